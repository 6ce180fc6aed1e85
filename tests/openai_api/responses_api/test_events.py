"""The output builder: items in order and the streamed events of OpenAI's spec, numbered."""
from __future__ import annotations

import json

from openai_api.responses_api.events import OutputBuilder, encode
from openai_api.responses_api.shapes import ResponseHeader, usage

USAGE = usage(input_tokens=3, output_tokens=5, reasoning_tokens=2)


def _builder(**request) -> OutputBuilder:
    return OutputBuilder(ResponseHeader(response_id="resp_1", created_at=1, model="m", request=request))


def test_thoughts_then_text_stream_as_a_reasoning_item_then_a_message():
    builder = _builder()
    events = builder.start() + builder.text("reasoning", "Hm") + builder.text("reasoning", "m.")
    events += builder.text("content", "Hel") + builder.text("content", "lo")
    body, ending = builder.finish(usage=USAGE)
    events += ending
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    assert body["status"] == "completed" and body["usage"] == USAGE
    reasoning, message = body["output"]
    assert reasoning["summary"] == [{"type": "summary_text", "text": "Hmm."}]
    assert message["content"][0]["text"] == "Hello" and message["status"] == "completed"
    assert events[-1]["response"] == body
    assert {e.get("output_index") for e in events[9:16]} == {1}


def test_a_content_filter_ends_as_incomplete():
    builder = _builder()
    builder.text("content", "partial")
    body, ending = builder.finish(usage=USAGE, incomplete_reason="content_filter")
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "content_filter"}
    assert ending[-1]["type"] == "response.incomplete"


def test_a_failure_sends_an_error_then_response_failed():
    builder = _builder()
    builder.start()
    builder.text("content", "partial")
    events = builder.fail(message="The upstream failed.", code="upstream_error")
    assert [e["type"] for e in events] == ["error", "response.failed"]
    assert events[0]["code"] == "upstream_error" and events[0]["sequence_number"] == 5
    assert events[1]["response"]["status"] == "failed"
    assert events[1]["response"]["error"] == {"code": "upstream_error", "message": "The upstream failed."}


def test_a_function_call_streams_its_arguments_and_joins_the_output():
    builder = _builder()
    builder.text("content", "Let me check.")
    events = builder.function_call(call_id="call_1", name="weather", arguments='{"city":"Oslo"}')
    assert [e["type"] for e in events] == [
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done"]
    assert events[3]["item"]["status"] == "in_progress" and events[3]["item"]["arguments"] == ""
    assert events[5]["arguments"] == '{"city":"Oslo"}' and events[5]["output_index"] == 1
    assert builder.output[1] == events[-1]["item"] and builder.output[1]["call_id"] == "call_1"


def test_the_response_echoes_the_request_settings():
    body, _ = _builder(instructions="Be kind.", store=False, metadata={"a": "b"}, temperature=None,
                       previous_response_id="resp_0").finish(usage=USAGE)
    assert (body["instructions"], body["store"], body["metadata"], body["temperature"]) == (
        "Be kind.", False, {"a": "b"}, 1.0)
    assert body["previous_response_id"] == "resp_0" and body["object"] == "response"


def test_events_are_encoded_with_their_name():
    event = {"type": "response.output_text.delta", "sequence_number": 3, "delta": "é"}
    name, data, blank, end = encode(event).decode().split("\n")
    assert name == "event: response.output_text.delta" and json.loads(data[6:]) == event
    assert (blank, end) == ("", "")
