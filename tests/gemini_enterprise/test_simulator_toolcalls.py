"""The simulated model follows a gateway's tool instructions (and breaks them on request), over loopback."""
from __future__ import annotations

import json

import pytest

from completions.tool_emulation import ToolDefinition, ToolEmulation, ToolRequest
from gemini_enterprise.types import TextDelta, ThoughtDelta

MARKER = "<<CALL_5eed5eed>>"
INSTRUCTIONS = ToolEmulation(ToolRequest((ToolDefinition("get_weather"),)), trigger=MARKER).instructions()


def answer(client, creds, query: str, session: str | None = None) -> tuple[str, str]:
    session = session or client.create_session(creds)
    with client.stream_assist(creds, session=session, query=query) as stream:
        events = list(stream)
    return ("".join(e.text for e in events if isinstance(e, TextDelta)),
            "".join(e.text for e in events if isinstance(e, ThoughtDelta)))


def calls_after_marker(text: str) -> list:
    head, marker, tail = text.partition(MARKER + "\n")
    assert marker and head == "", text
    return json.loads(tail)


def test_a_call_directive_is_answered_with_the_marker_the_instructions_named(client, creds):
    text, _ = answer(client, creds, f'{INSTRUCTIONS}\nUser: weather? [[sim:call=get_weather:{{"city": "Oslo"}}]]')
    assert calls_after_marker(text) == [{"name": "get_weather", "arguments": {"city": "Oslo"}}]


def test_repeated_directives_make_parallel_calls_even_with_brackets_in_the_json(client, creds):
    query = f'{INSTRUCTIONS}\n[[sim:call=a:{{"xs": [1, 2]}}]] [[sim:call=b:{{"s": "]]"}}]]'
    assert calls_after_marker(answer(client, creds, query)[0]) == [
        {"name": "a", "arguments": {"xs": [1, 2]}}, {"name": "b", "arguments": {"s": "]]"}}]


def test_once_a_tool_result_is_back_the_model_answers_in_prose_without_the_instructions(client, creds):
    query = (f'{INSTRUCTIONS}\nUser: weather? [[sim:call=get_weather:{{"city": "Oslo"}}]]\n'
             f'<tool_result call_id="call_1">18 C</tool_result>\n(write {MARKER} to call)')
    text, _ = answer(client, creds, query)
    assert "18 C" in text and MARKER not in text and "<tool_use>" not in text and "sim:call" not in text


def test_without_instructions_the_model_cannot_call_and_answers_in_prose(client, creds):
    text, _ = answer(client, creds, '[[sim:call=get_weather:{"city": "Oslo"}]]')
    assert text.startswith("I would call get_weather now") and "<<CALL_" not in text


@pytest.mark.parametrize(("variant", "check"), [
    ("fenced", lambda t: t.startswith(f"{MARKER}\n```json\n[") and t.endswith("]\n```")),
    ("truncated", lambda t: t.startswith(MARKER) and not t.endswith("]")),
    ("unknown", lambda t: calls_after_marker(t)[0]["name"] == "undeclared_tool"),
    ("commentary", lambda t: t.endswith("]\nI will wait for the results.")),
    ("prose", lambda t: t.startswith("I would call get_weather") and MARKER not in t),
])
def test_each_broken_variant_breaks_the_call_as_named(client, creds, variant, check):
    text, _ = answer(client, creds, f'{INSTRUCTIONS}\n[[sim:call=get_weather:{{"city": "Oslo"}}]] '
                                    f'[[sim:call_{variant}]]')
    assert check(text), text


def test_a_call_in_a_thought_leaves_the_answer_in_prose(client, creds):
    text, thought = answer(client, creds, f'{INSTRUCTIONS}\n[[sim:call=get_weather:{{}}]] [[sim:call_in_thought]]')
    assert text == "I thought about calling get_weather." and f'{MARKER}\n[{{"name": "get_weather"' in thought


def test_asked_again_in_the_same_session_a_broken_model_complies(client, creds):
    session = client.create_session(creds)
    first, _ = answer(client, creds, f'{INSTRUCTIONS}\n[[sim:call=get_weather:{{"city": "Rome"}}]] '
                                     "[[sim:call_prose]]", session)
    again, _ = answer(client, creds, f"Your previous answer did not call a tool. Answer again now with only the "
                                     f"marker {MARKER} on its own line ...", session)
    assert MARKER not in first
    assert calls_after_marker(again) == [{"name": "get_weather", "arguments": {"city": "Rome"}}]


def test_a_stubborn_model_stays_broken_when_asked_again(client, creds):
    session = client.create_session(creds)
    answer(client, creds, f"{INSTRUCTIONS}\n[[sim:call=get_weather:{{}}]] [[sim:call_prose]] [[sim:call_stubborn]]",
           session)
    again, _ = answer(client, creds, f"Answer again now with only the marker {MARKER} on its own line", session)
    assert again.startswith("I would call get_weather")
