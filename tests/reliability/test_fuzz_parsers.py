"""Property-based tests of everything that parses input we do not control.

Request side: the /v1/chat/completions serializer (tools included), parse_messages / parse_prompts and
render_query. Answer side: the emulated tool-call parser fed any text in any chunking.
Upstream side: ArrayStreamParser fed any chunking of a valid body, any prefix of it, or any bytes at all.
"""
from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.exceptions import ValidationError

from gemini_enterprise.stream import ArrayStreamParser, EventDecoder, StreamFormatError, StreamTruncated
from gemini_enterprise.types import StreamError
from openai_api.conversation import render_query
from openai_api.serializers import ROLES, parse_chat_request, parse_messages, parse_prompts

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=12)

# ---- request shapes: mostly almost-valid, so the fuzzer reaches the deep branches ------------------------

part_types = st.sampled_from(["text", "input_text", "output_text", "image_url", "input_image", "file", "refusal",
                              "audio", ""])
urls = st.sampled_from(["data:image/png;base64,iVBORw0KGgo=", "data:", "https://example.com/a.png", ""]) | st.text()
content_parts = st.text(max_size=20) | json_values | st.fixed_dictionaries(
    {"type": part_types | json_values},
    optional={"text": st.text(max_size=20) | json_values,
              "image_url": st.fixed_dictionaries({"url": urls | json_values}) | urls | json_values,
              "file_id": st.text(max_size=8) | json_values,
              "file": st.fixed_dictionaries({}, optional={"file_id": st.text(max_size=8) | json_values,
                                                          "file_data": urls | json_values,
                                                          "filename": st.text(max_size=8) | json_values})
              | json_values,
              "refusal": json_values})
roles = st.sampled_from(sorted(ROLES)) | json_values
tool_calls = st.lists(st.fixed_dictionaries({"function": st.fixed_dictionaries(
    {"name": json_values, "arguments": json_values}) | json_values}) | json_values, max_size=2) | json_values
messages = st.fixed_dictionaries(
    {"role": roles, "content": st.text(max_size=30) | st.none() | st.lists(content_parts, max_size=3) | json_values},
    optional={"name": st.text(max_size=8) | json_values, "tool_calls": tool_calls}) | json_values
prompts = st.fixed_dictionaries(
    {"role": roles, "text": st.text(max_size=30) | json_values},
    optional={"files": st.lists(st.fixed_dictionaries({}, optional={"data": urls | json_values,
                                                                    "file_id": st.text(max_size=8) | json_values,
                                                                    "type": json_values})
                                | json_values, max_size=2) | json_values}) | json_values
schemas = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["object", "string", "nonsense"]) | json_values, "$ref": st.text(max_size=10),
    "$schema": json_values, "properties": st.dictionaries(st.text(max_size=5), json_values, max_size=2),
    "required": json_values, "pattern": st.text(max_size=5)}) | json_values
tools = st.lists(st.fixed_dictionaries(
    {"type": st.just("function") | json_values},
    optional={"function": st.fixed_dictionaries({"name": st.sampled_from(["f", "g", "bad name"]) | json_values},
                                                optional={"description": json_values, "parameters": schemas})
              | json_values}) | json_values, max_size=3) | json_values
tool_choices = st.sampled_from(["none", "auto", "required"]) | st.fixed_dictionaries(
    {"type": st.just("function") | json_values,
     "function": st.fixed_dictionaries({"name": st.sampled_from(["f", "g"]) | json_values}) | json_values})
bodies = st.fixed_dictionaries(
    {"model": st.text(max_size=20) | json_values},
    optional={"messages": st.lists(messages, max_size=4) | json_values,
              "prompts": st.lists(prompts, max_size=3) | json_values,
              "stream": st.booleans() | json_values,
              "stream_options": st.fixed_dictionaries({}, optional={"include_usage": json_values}) | json_values,
              "temperature": json_values, "safe_mode": json_values,
              "tools": tools, "tool_choice": tool_choices, "parallel_tool_calls": json_values}) | json_values

# Valid conversations, to check what rendering promises.
texts = st.text(min_size=1, max_size=40).filter(str.strip)
valid_messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(sorted(ROLES)), "content": texts}),
                          min_size=1, max_size=6)


@FUZZ
@given(body=bodies)
@example(body={"model": "m", "messages": [{"role": [], "content": "x"}]})
@example(body={"model": "m", "prompts": [{"role": {}, "text": "x"}]})
@example(body={"model": "m", "messages": [{"role": "user", "content": [{"type": ["text"]}]}]})
def test_the_request_parser_only_ever_raises_validation_errors(body):
    try:
        data = parse_chat_request(body)
    except ValidationError as error:  # anything else propagates and fails the test
        assert error.detail
        return
    parsed = data["parsed_messages"]
    assert parsed and any(m.text.strip() or m.attachments for m in parsed)
    assert isinstance(data["include_usage"], bool) and isinstance(data["stream"], bool)


@FUZZ
@given(raw=st.lists(messages, max_size=4) | json_values)
def test_parse_messages_accepts_or_names_the_bad_param(raw):
    try:
        parsed = parse_messages(raw)
    except ValidationError as exc:
        assert all(key.startswith("messages") for key in exc.detail)
        return
    assert all(m.role in ROLES for m in parsed)


@FUZZ
@given(raw=st.lists(prompts, max_size=3) | json_values)
def test_parse_prompts_accepts_or_names_the_bad_param(raw):
    try:
        parse_prompts(raw)
    except ValidationError as exc:
        assert all(key.startswith("prompts") for key in exc.detail)


@FUZZ
@given(raw=valid_messages, names=st.lists(st.lists(st.text(min_size=1, max_size=10), max_size=2), max_size=6))
def test_rendering_is_deterministic_and_carries_every_turn(raw, names):
    parsed = parse_messages(raw)
    attachment_names = [names[i] if i < len(names) else [] for i in range(len(parsed))]
    query = render_query(parsed, attachment_names)
    assert query == render_query(copy.deepcopy(parsed), copy.deepcopy(attachment_names))
    for message, attached in zip(parsed, attachment_names, strict=True):
        if message.role in ("system", "developer"):
            assert message.text.strip() in query
        else:
            assert message.text in query
            for name in attached:
                assert f"[attached file: {name}]" in query
    last = [m for m in parsed if m.role not in ("system", "developer")]
    if last and not (len(last) == 1 and len(last) == len(parsed) and last[0].role == "user"):
        # A transcript (not a plain single prompt) ends by handing the turn to the assistant.
        assert query.endswith("Assistant:") or last[-1].role == "assistant"


# ---- the upstream's streamed JSON array ----------------------------------------------------------------------

elements = st.lists(st.dictionaries(st.text(max_size=10), json_values, max_size=4), max_size=5)
separators = st.sampled_from(["", " ", "\n", "\r\n", "\t "])


def _body(items: list[dict], data: st.DataObject) -> bytes:
    """The array as the upstream frames it (`[{`, `\\n,\\r\\n{`, `\\n]`), with random whitespace and escaping."""
    parts = [json.dumps(item, ensure_ascii=data.draw(st.booleans()), indent=data.draw(st.sampled_from([None, 2])))
             for item in items]
    glue = data.draw(separators) + "," + data.draw(separators)
    return ("[" + data.draw(separators) + glue.join(parts) + data.draw(separators) + "]").encode("utf-8")


def _chunks(body: bytes, data: st.DataObject) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]


@FUZZ
@given(items=elements, data=st.data())
def test_any_chunking_of_a_valid_array_yields_exactly_its_elements(items, data):
    parser = ArrayStreamParser()
    out = []
    for chunk in _chunks(_body(items, data), data):  # cuts land anywhere, inside UTF-8 characters too
        out.extend(parser.feed(chunk))
    parser.close()
    assert out == items and parser.finished


@FUZZ
@given(items=elements, data=st.data())
def test_any_cut_short_array_is_reported_as_truncated(items, data):
    body = _body(items, data)
    cut = data.draw(st.integers(0, len(body) - 1))
    parser = ArrayStreamParser()
    out = []
    for chunk in _chunks(body[:cut], data):
        out.extend(parser.feed(chunk))
    assert out == items[:len(out)]  # what came out before the cut is right
    with pytest.raises(StreamTruncated):
        parser.close()


@FUZZ
@given(data=st.data(), raw=st.binary(max_size=200) | st.text(alphabet='[]{},"\\: \n0a', max_size=80).map(str.encode))
def test_arbitrary_bytes_raise_nothing_but_stream_format_errors(data, raw):
    parser = ArrayStreamParser()
    decoder = EventDecoder()
    try:
        for chunk in _chunks(raw, data):
            for element in parser.feed(chunk):
                assert isinstance(element, dict)
                decoder.events(element)
        parser.close()
    except StreamFormatError:
        pass


@FUZZ
@given(element=st.dictionaries(st.sampled_from(["streamAssistResponse", "error", "uToken", "x"]), json_values,
                               max_size=3)
       | st.fixed_dictionaries({"streamAssistResponse": st.fixed_dictionaries({}, optional={
           "answer": st.fixed_dictionaries({}, optional={
               "state": st.sampled_from(["SUCCEEDED", "FAILED", "SKIPPED", "IN_PROGRESS"]) | json_values,
               "replies": st.lists(st.fixed_dictionaries({"groundedContent": st.fixed_dictionaries(
                   {"content": json_values | st.dictionaries(st.sampled_from(["text", "thought", "file"]),
                                                            json_values)}) | json_values}) | json_values)
               | json_values,
               "assistSkippedReasons": json_values}) | json_values,
           "sessionInfo": json_values})}))
@example(element={"error": {"code": 429, "details": 5}})
@example(element={"streamAssistResponse": {"answer": {"state": [], "replies": 1, "assistSkippedReasons": 2}}})
@example(element={"streamAssistResponse": {"answer": {"replies": [{"groundedContent": "text"}]}}})
def test_any_element_shape_decodes_to_events_or_a_stream_error(element):
    for event in EventDecoder().events(element):
        if isinstance(event, StreamError):
            assert event.error.message


# ---- emulated tool calls: any answer text, any chunking ------------------------------------------------

TRIGGER = "<<CALL_0f0f0f0f>>"
answer_pieces = st.sampled_from([TRIGGER, TRIGGER[:5], "[", "]", "{", "}", '"', "\\", "```json\n", "```", ",", "\n",
                                 '{"name": "f", "arguments": {"x": 1}}', '{"name": "nope"}', '"arguments"',
                                 "text ", "<"]) | st.text(max_size=6)


@FUZZ
@given(pieces=st.lists(answer_pieces, max_size=25), cuts=st.lists(st.integers(1, 7), min_size=1, max_size=5))
def test_the_tool_parser_streams_what_it_parses_whole_and_never_shows_the_marker(pieces, cuts):
    from completions.tool_emulation import ToolDefinition, ToolEmulation, ToolRequest

    emulation = ToolEmulation(ToolRequest((ToolDefinition("f", parameters={"type": "object"}),)), trigger=TRIGGER)
    text = "".join(pieces)
    whole = emulation.parse(text)
    parser = emulation.parser()
    streamed, position, index = [], 0, 0
    while position < len(text):
        size = cuts[index % len(cuts)]
        streamed.append(parser.feed(text[position:position + size]))
        position, index = position + size, index + 1
    end = parser.finish()
    assert "".join(streamed) + end.text == whole.text
    assert TRIGGER not in whole.text
    assert [c.name for c in end.calls] == [c.name for c in whole.calls]
    assert all(c.name == "f" and isinstance(json.loads(c.arguments), dict) for c in whole.calls)
