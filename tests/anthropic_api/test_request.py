"""Anthropic request bodies into the run engine's conversation, tools and options; errors name the field."""
from __future__ import annotations

import json

import pytest

from anthropic_api.request import parse_messages_request
from gempool_site.exceptions import BadRequestError
from openai_api.conversation import render_query

PNG_B64 = "iVBORw0KGgo="
WEATHER = {"name": "get_weather", "description": "Weather.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _body(**fields):
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_system_blocks_images_documents_and_text_become_one_conversation():
    parsed = parse_messages_request(_body(system=[{"type": "text", "text": "Be brief."},
                                                  {"type": "text", "text": "Be kind.", "cache_control": {}}],
                                          messages=[{"role": "user", "content": [
                                              {"type": "text", "text": "Look"},
                                              {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                           "data": PNG_B64}},
                                              {"type": "image", "source": {"type": "url",
                                                                           "url": "https://example.com/a.png"}},
                                              {"type": "document", "title": "Notes",
                                               "source": {"type": "text", "media_type": "text/plain",
                                                          "data": "line one"}},
                                              {"type": "document", "source": {"type": "base64",
                                                                              "media_type": "application/pdf",
                                                                              "data": "JVBERi0x"}}]}]))
    system, user = parsed.messages
    assert (system.role, system.text) == ("system", "Be brief.\n\nBe kind.")
    assert user.text == 'Look\n\n<document title="Notes">\nline one\n</document>'
    assert [(a.kind, a.param) for a in user.attachments] == [
        ("data_uri", "messages.0.content.1.source.data"), ("url", "messages.0.content.2.source.url"),
        ("data_uri", "messages.0.content.4.source.data")]
    assert user.attachments[0].value == f"data:image/png;base64,{PNG_B64}" and parsed.attachments == 3


def test_tool_use_and_tool_results_become_calls_and_results_in_the_query():
    parsed = parse_messages_request(_body(tools=[WEATHER], messages=[
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                                          {"type": "text", "text": "Let me check."},
                                          {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
                                      "content": [{"type": "text", "text": "service down"}]},
                                     {"type": "text", "text": "Try again?"}]}]))
    roles = [(m.role, m.text) for m in parsed.messages]
    assert roles == [("user", "Weather in Oslo?"), ("assistant", "Let me check."), ("tool", "service down"),
                     ("user", "Try again?")]
    assert json.loads(parsed.messages[1].tool_calls[0].arguments) == {"city": "Oslo"}
    query = render_query(parsed.messages, tools=parsed.tool_request.emulation())
    assert '<tool_call_record id="toolu_1" name="get_weather">{"city":"Oslo"}</tool_call_record>' in query
    assert '<tool_result call_id="toolu_1" name="get_weather" status="error">\nservice down' in query
    assert "hm" not in query.replace("<tool_use>", "")  # earlier thoughts are not sent again


@pytest.mark.parametrize("choice,mode,name,parallel", [
    (None, "auto", None, True),
    ({"type": "auto", "disable_parallel_tool_use": True}, "auto", None, False),
    ({"type": "any"}, "required", None, True),
    ({"type": "tool", "name": "get_weather"}, "named", "get_weather", True),
    ({"type": "none"}, "none", None, True),
])
def test_tool_choice_maps_onto_the_shared_choice(choice, mode, name, parallel):
    request = parse_messages_request(_body(tools=[WEATHER], tool_choice=choice)).tool_request
    assert (request.choice.mode, request.choice.name, request.parallel) == (mode, name, parallel)
    assert (request.emulation() is None) == (mode == "none")


def test_server_tools_are_left_out_and_options_are_read():
    parsed = parse_messages_request(_body(
        tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}], stream=True,
        stop_sequences=["END"], thinking={"type": "enabled", "budget_tokens": 1024}, temperature=0.2,
        metadata={"user_id": "u"}))
    assert [t.name for t in parsed.tool_request.tools] == ["get_weather"]
    assert (parsed.stream, parsed.stop_sequences, parsed.thinking, parsed.max_tokens) == (True, ("END",), True, 10)
    assert parse_messages_request(_body(thinking={"type": "adaptive", "display": "omitted"})).thinking is False
    assert parse_messages_request({"model": "m", "messages": [{"role": "user", "content": "x"}]},
                                  count_only=True).max_tokens is None


@pytest.mark.parametrize("body,param", [
    ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
    (_body(model=""), "model"),
    (_body(messages=[]), "messages"),
    (_body(messages=[{"role": "robot", "content": "x"}]), "messages.0.role"),
    (_body(messages=[{"role": "user", "content": [{"type": "video"}]}]), "messages.0.content.0.type"),
    (_body(messages=[{"role": "user", "content": [{"type": "image", "source": {
        "type": "base64", "media_type": "image/tiff", "data": "x"}}]}]), "messages.0.content.0.source.media_type"),
    (_body(messages=[{"role": "user", "content": [{"type": "document", "source": {
        "type": "url", "url": "https://example.com/a.pdf"}}]}]), "messages.0.content.0.source.type"),
    (_body(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]), "messages.0.content.0.tool_use_id"),
    (_body(messages=[{"role": "user", "content": [{"type": "text", "text": " "}]}]), "messages"),
    (_body(tools=[{"name": "f"}]), "tools.0.input_schema"),
    (_body(tools=[WEATHER, WEATHER]), "tools.1.name"),
    (_body(tools=[{**WEATHER, "input_schema": {"type": "nonsense"}}]), "tools.0.input_schema"),
    (_body(tools=[WEATHER], tool_choice={"type": "tool", "name": "other"}), "tool_choice.name"),
    (_body(tool_choice={"type": "any"}), "tool_choice"),
    (_body(tool_choice={"type": "sometimes"}), "tool_choice.type"),
    (_body(stop_sequences="END"), "stop_sequences"),
    (_body(thinking={"type": "enabled"}), "thinking.budget_tokens"),
    (_body(stream="yes"), "stream"),
    (_body(system=[{"type": "image"}]), "system.0"),
])
def test_bad_bodies_name_the_field(body, param):
    with pytest.raises(BadRequestError) as raised:
        parse_messages_request(body)
    assert raised.value.param == param and raised.value.message.startswith(f"{param}: ")
