"""Request parsing: every shape OpenAI clients and the original tool send, and clear errors otherwise."""
from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from openai_api.serializers import parse_chat_request

PNG = "data:image/png;base64,iVBORw0KGgo="


def _parse(body: dict) -> dict:
    return parse_chat_request(body)


def _errors(body) -> dict:
    with pytest.raises(ValidationError) as refused:
        parse_chat_request(body)
    return refused.value.detail


def test_string_content_and_unknown_fields_are_accepted():
    data = _parse({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2,
                   "safe_mode": False, "top_p": 1, "max_tokens": 5})
    assert data["parsed_messages"][0].text == "hi"
    assert data["stream"] is False and data["include_usage"] is False


def test_list_content_collects_text_and_every_attachment_shape():
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "file", "file_id": "file-abc"},
        {"type": "file", "file": {"file_id": "file-def"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "x.pdf"}},
    ]
    message = _parse({"model": "m", "messages": [{"role": "user", "content": content}]})["parsed_messages"][0]
    assert message.text == "Describe"
    assert [(a.kind, a.value) for a in message.attachments] == [
        ("data_uri", PNG), ("url", "https://example.com/a.png"), ("file_id", "file-abc"),
        ("file_id", "file-def"), ("data_uri", "data:application/pdf;base64,JVBERg==")]
    assert message.attachments[-1].filename == "x.pdf"


def test_the_original_prompts_format_is_accepted():
    data = _parse({"model": "m", "prompts": [{"role": "user", "text": "Describe this image",
                                               "files": [{"data": PNG, "type": "image"}]}]})
    message = data["parsed_messages"][0]
    assert message.text == "Describe this image" and message.attachments[0].kind == "data_uri"


def test_stream_options_include_usage_only_when_streaming():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": True}}
    assert _parse(body)["include_usage"] is False
    assert _parse({**body, "stream": True})["include_usage"] is True


@pytest.mark.parametrize("body,param", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
     "messages[0].content[0].type"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]},
     "messages[0].content[0].text"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content[0].image_url.url"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]},
     "messages[0].content[0]"),
    ({"model": "m", "messages": [{"role": "user", "content": ""}]}, "messages"),
    ({"model": "m", "messages": "hello"}, "messages"),
])
def test_bad_bodies_name_the_offending_param(body, param):
    assert param in _errors(body)


@pytest.mark.parametrize("prompts,param", [
    ([{"role": "wizard", "text": "x"}], "prompts[0].role"),
    ([{"role": "user", "text": 3}], "prompts[0].text"),
    ([{"role": "user", "text": "x", "files": "a.png"}], "prompts[0].files"),
    ([{"role": "user", "text": "x", "files": [{"type": "image"}]}], "prompts[0].files[0]"),
    ([{"role": "user", "text": "x"}, {"role": "user", "text": "y", "files": [{"data": "", "type": "image"}]}],
     "prompts[1].files[0].data"),
    ([{"role": "user", "text": "x", "files": [{"data": 7}]}], "prompts[0].files[0].data"),
    ([{"role": "user", "text": ""}], "prompts"),
    ("hello", "prompts"),
])
def test_errors_in_the_prompts_format_name_the_field_the_client_sent(prompts, param):
    errors = _errors({"model": "m", "prompts": prompts})
    assert list(errors) == [param]
    assert "messages" not in str(errors) and "content" not in str(errors)


def test_prompts_attachments_keep_the_path_the_client_sent_for_later_errors():
    prompts = [{"role": "user", "text": "Describe", "files": [{"data": PNG, "type": "image"}, {"file_id": "file-1"}]}]
    message = _parse({"model": "m", "prompts": prompts})["parsed_messages"][0]
    assert [(a.kind, a.param) for a in message.attachments] == [
        ("data_uri", "prompts[0].files[0].data"), ("file_id", "prompts[0].files[1].file_id")]


WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather.", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
USER = [{"role": "user", "content": "weather?"}]


def test_tools_choice_and_parallel_flag_become_a_tool_request():
    request = _parse({"model": "m", "messages": USER, "tools": [WEATHER_TOOL], "parallel_tool_calls": False,
                      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})["tool_request"]
    assert [t.name for t in request.tools] == ["get_weather"] and request.tools[0].description == "Weather."
    assert request.tools[0].parameters["required"] == ["city"]
    assert (request.choice.mode, request.choice.name, request.parallel) == ("named", "get_weather", False)
    assert _parse({"model": "m", "messages": USER})["tool_request"] is None
    assert _parse({"model": "m", "messages": USER, "tools": [WEATHER_TOOL]})["tool_request"].choice.mode == "auto"


def test_history_tool_calls_and_tool_results_are_parsed():
    messages = _parse({"model": "m", "messages": USER + [
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"A"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]})["parsed_messages"]
    assert [(c.id, c.name, c.arguments) for c in messages[1].tool_calls] == [("call_1", "get_weather", '{"city":"A"}')]
    assert (messages[2].role, messages[2].tool_call_id, messages[2].text) == ("tool", "call_1", "sunny")


@pytest.mark.parametrize("extra,param", [
    ({"tools": {"type": "function"}}, "tools"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"name": "has space"}}]}, "tools[0].function.name"),
    ({"tools": [WEATHER_TOOL, WEATHER_TOOL]}, "tools[1].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}]},
     "tools[0].function.parameters"),
    ({"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}},
     "tool_choice.function.name"),
    ({"tool_choice": "required"}, "tool_choice"),
    ({"messages": USER + [{"role": "assistant", "tool_calls": [{"id": "c"}]}]}, "messages[1].tool_calls[0].function"),
])
def test_bad_tool_fields_name_the_offending_param(extra, param):
    assert param in _errors({"model": "m", "messages": USER, **extra})


def test_null_options_mean_their_defaults_and_the_boolean_spellings_drf_read_still_work():
    body = {"model": " m ", "messages": USER, "tools": [WEATHER_TOOL]}
    data = _parse({**body, "stream": None, "stream_options": None, "parallel_tool_calls": None})
    assert (data["model"], data["stream"], data["include_usage"]) == ("m", False, False)
    assert data["tool_request"].parallel is True
    data = _parse({**body, "stream": "true", "stream_options": {"include_usage": 1}})
    assert data["stream"] is True and data["include_usage"] is True
    assert _parse({**body, "stream": "off"})["stream"] is False


@pytest.mark.parametrize("body,param", [
    ({"model": "m" * 201, "messages": USER}, "model"),
    ({"model": "   ", "messages": USER}, "model"),
    ({"model": 5, "messages": USER}, "model"),
    ({"model": "m", "messages": USER, "stream": "maybe"}, "stream"),
    ({"model": "m", "messages": USER, "stream": [True]}, "stream"),
    ({"model": "m", "messages": USER, "stream": True, "stream_options": "usage"}, "stream_options"),
    ({"model": "m", "messages": USER, "stream_options": {"include_usage": {}}}, "stream_options.include_usage"),
    ({"model": "m", "messages": USER, "tools": [WEATHER_TOOL], "parallel_tool_calls": "both"}, "parallel_tool_calls"),
])
def test_bad_options_name_the_offending_param(body, param):
    assert list(_errors(body)) == [param]


def test_a_body_that_is_not_an_object_is_refused_as_a_whole():
    assert "JSON object" in str(_errors([{"model": "m"}])["non_field_errors"][0])


def test_a_model_that_is_not_a_string_is_told_so_and_a_missing_one_is_asked_for():
    assert "must be a string" in str(_errors({"model": 5, "messages": USER})["model"][0])
    assert "is required" in str(_errors({"model": None, "messages": USER})["model"][0])
