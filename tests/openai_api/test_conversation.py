"""The whole conversation reaches the upstream: system first, then every turn labelled."""
from __future__ import annotations

from completions.tool_emulation import ToolCall, ToolDefinition, ToolEmulation, ToolRequest
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
    assert 'Tool result:\n<tool_result name="w">\nsunny\n</tool_result>' in query


def test_calls_and_results_in_the_history_are_recorded_and_tied_by_id():
    query = render_query([
        Message("user", "weather in Oslo?"),
        Message("assistant", "", tool_calls=[ToolCall("call_9", "get_weather", '{"city": "Oslo"}')]),
        Message("tool", "18 C", tool_call_id="call_9"),
    ])
    assert ('Assistant: <tool_call_record id="call_9" name="get_weather">{"city":"Oslo"}</tool_call_record>\n\n'
            'Tool result:\n<tool_result call_id="call_9" name="get_weather">\n18 C\n</tool_result>\n\n'
            "Assistant:") in query


def test_offered_tools_add_the_instructions_after_the_system_and_a_reminder_at_the_end():
    tools = ToolEmulation(ToolRequest((ToolDefinition("get_weather"),)), trigger="<<CALL_00000000>>")
    query = render_query([Message("system", "Be brief."), Message("user", "Hi")], tools=tools)
    assert query.startswith("<system>\nBe brief.\n</system>\n\n<tool_use>\n")
    assert query.endswith(f"User: Hi\n\n{tools.reminder()}\n\nAssistant:")
    assert render_query([Message("user", "Hi")], tools=tools).startswith("<tool_use>")  # never the bare prompt


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
