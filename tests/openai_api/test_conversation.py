"""The whole conversation reaches the upstream: system first, then every turn labelled."""
from __future__ import annotations

from openai_api.conversation import Message, estimate_tokens, render_query


def test_a_single_user_prompt_goes_as_written():
    assert render_query([Message("user", "Hello!")]) == "Hello!"


def test_system_instructions_come_first_and_turns_are_labelled():
    query = render_query([
        Message("user", "My name is Ada."),
        Message("system", "Answer in French."),
        Message("assistant", "Enchanté, Ada."),
        Message("user", "What is my name?"),
    ])
    assert query == ("<system>\nAnswer in French.\n</system>\n\nUser: My name is Ada.\n\n"
                     "Assistant: Enchanté, Ada.\n\nUser: What is my name?\n\nAssistant:")


def test_developer_messages_count_as_system_instructions():
    query = render_query([Message("developer", "Be brief."), Message("user", "Hi")])
    assert query.startswith("<system>\nBe brief.\n</system>") and query.endswith("User: Hi\n\nAssistant:")


def test_tool_results_are_labelled_with_the_tool_name():
    query = render_query([Message("user", "weather?"), Message("assistant", "[called tool w with {}]"),
                          Message("tool", "sunny", name="w")])
    assert "Tool result [w]: sunny" in query


def test_attachments_are_marked_where_they_were_sent():
    query = render_query([Message("user", "Compare"), Message("assistant", "ok"), Message("user", "and this")],
                         [["a.png"], [], ["b.pdf"]])
    assert "User: Compare\n[attached file: a.png]" in query
    assert "User: and this\n[attached file: b.pdf]" in query


def test_an_image_only_prompt_still_names_the_image():
    assert render_query([Message("user", "")], [["photo.png"]]) == "[attached file: photo.png]"


def test_token_estimates_are_about_four_characters_each():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd" * 10) == 10
    assert estimate_tokens("abcde") == 2
