"""Responses `input` items: validation into canonical items and rendering as conversation messages."""
from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from completions.tool_types import ToolCall
from openai_api.conversation import render_query
from openai_api.responses_api.items import parse_input, to_messages


def _error_params(raw) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        parse_input(raw)
    return list(caught.value.detail)


def test_a_string_is_one_user_message():
    assert parse_input("hi") == [{"type": "message", "role": "user",
                                  "content": [{"type": "input_text", "text": "hi"}]}]


def test_easy_messages_typed_messages_and_tool_history_are_accepted():
    items = parse_input([
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city": "Oslo"}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ])
    assert [item["type"] for item in items] == ["message", "message", "function_call", "function_call_output"]
    messages = to_messages(items, instructions="You help.")
    assert [(m.role, m.text, m.name, m.tool_call_id) for m in messages] == [
        ("system", "You help.", None, None), ("developer", "Be brief.", None, None),
        ("user", "Weather?", None, None), ("assistant", "", None, None), ("tool", "sunny", "weather", "call_1")]
    assert messages[3].tool_calls == [ToolCall(id="call_1", name="weather", arguments='{"city": "Oslo"}')]
    query = render_query(messages)
    assert '<tool_call_record id="call_1" name="weather">{"city":"Oslo"}</tool_call_record>' in query
    assert query.endswith('<tool_result call_id="call_1" name="weather">\nsunny\n</tool_result>\n\nAssistant:')


def test_parallel_calls_join_the_assistant_turn_that_made_them():
    items = parse_input([
        {"role": "assistant", "content": "Checking both."},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "b", "output": "2"},
        {"type": "function_call_output", "call_id": "a", "output": "1"},
    ])
    messages = to_messages(items, instructions=None)
    assert [m.role for m in messages] == ["assistant", "tool", "tool"]
    assert messages[0].text == "Checking both." and [c.id for c in messages[0].tool_calls] == ["a", "b"]
    assert [(m.name, m.tool_call_id) for m in messages[1:]] == [("g", "b"), ("f", "a")]


def test_image_and_file_parts_become_attachments():
    items = parse_input([{"role": "user", "content": [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": "https://example.com/cat.png"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
        {"type": "input_image", "file_id": "file-1"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,AAAA", "filename": "a.pdf"},
        {"type": "input_file", "file_id": "file-2"},
    ]}])
    attachments = to_messages(items, instructions=None)[0].attachments
    assert [(a.kind, a.filename) for a in attachments] == [
        ("url", None), ("data_uri", None), ("file_id", None), ("data_uri", "a.pdf"), ("file_id", None)]
    assert attachments[0].param == "input[0].content[1].image_url"


@pytest.mark.parametrize(("raw", "param"), [
    (42, "input"),
    (["hi"], "input[0]"),
    ([{"role": "robot", "content": "x"}], "input[0].role"),
    ([{"role": "user", "content": [{"type": "audio"}]}], "input[0].content[0].type"),
    ([{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}],
     "input[0].content[0].file_url"),
    ([{"type": "function_call", "name": "f", "arguments": "{}"}], "input[0].call_id"),
    ([{"type": "function_call_output", "call_id": "c", "output": 3}], "input[0].output"),
    ([{"type": "item_reference", "id": "msg_1"}], "input[0].type"),
])
def test_bad_items_are_refused_naming_the_exact_param(raw, param):
    assert _error_params(raw) == [param]


def test_assistant_output_items_round_trip_as_history():
    output = [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
               "content": [{"type": "output_text", "text": "Hi!", "annotations": [], "logprobs": []}]},
              {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "call_9", "name": "f",
               "arguments": "{}"}]
    assert parse_input(output) == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
        {"type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{}"}]


def test_params_count_this_requests_input_after_the_carried_items():
    carried = parse_input("earlier")
    items = carried + parse_input([{"role": "user", "content": [{"type": "input_image", "image_url": "https://x/a.png"}]}])
    messages = to_messages(items, instructions=None, carried=len(carried))
    assert messages[1].attachments[0].param == "input[0].content[0].image_url"
