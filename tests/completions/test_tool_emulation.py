"""Emulated tool calling: the instructions, the history records and parsing (every failure mode of the fact
sheet /work/shared/tool-emulation.md), streamed and not."""
from __future__ import annotations

import json

import pytest

from completions.tool_emulation import (
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolEmulation,
    ToolRequest,
    ToolResult,
    render_tool_calls,
    render_tool_result,
)
from completions.tool_parsing import MAX_BLOCK_CHARS, json_value_end

T = "<<CALL_0badcafe>>"
WEATHER = ToolDefinition("get_weather", "Current weather for a city.", {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                                     "unit": {"type": "string", "enum": ["C", "F"]}},
    "required": ["city"], "additionalProperties": False})
WRITE = ToolDefinition("write_file", "Write a file.", {
    "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["path", "content"]})


def emulation(choice: ToolChoice = ToolChoice(), *, parallel: bool = True) -> ToolEmulation:
    return ToolEmulation(ToolRequest((WEATHER, WRITE), choice, parallel), trigger=T)


def call(name: str, **arguments) -> str:
    return json.dumps({"name": name, "arguments": arguments})


def streamed(em: ToolEmulation, text: str, size: int = 3) -> tuple[list[str], object]:
    parser = em.parser()
    pieces = [parser.feed(text[i:i + size]) for i in range(0, len(text), size)]
    return pieces, parser.finish()


# ---- the request side -------------------------------------------------------------------------------


def test_nothing_is_emulated_when_there_are_no_tools_or_choice_is_none():
    assert ToolRequest(()).emulation() is None
    assert ToolRequest((WEATHER,), ToolChoice("none")).emulation() is None
    assert ToolRequest((WEATHER,)).emulation() is not None


def test_each_request_gets_its_own_random_marker():
    first, second = ToolRequest((WEATHER,)).emulation(), ToolRequest((WEATHER,)).emulation()
    assert first.trigger != second.trigger and first.trigger.startswith("<<CALL_")


def test_instructions_list_every_tool_with_its_schema_and_the_marker():
    text = emulation().instructions()
    assert "## get_weather" in text and "Current weather for a city." in text
    assert json.dumps(WEATHER.parameters) in text
    assert f"write the marker {T} on its own line" in text


@pytest.mark.parametrize(("choice", "rule"), [
    (ToolChoice("auto"), "otherwise answer in plain text"),
    (ToolChoice("required"), "You must call at least one tool"),
    (ToolChoice("named", "write_file"), "You must call the tool write_file"),
])
def test_instructions_and_follow_up_state_the_tool_choice(choice, rule):
    em = emulation(choice)
    assert rule in em.instructions() and rule in em.reminder()
    if choice.requires_call:
        assert rule in em.follow_up("did not call a tool")


def test_instructions_ask_for_one_call_when_parallel_calls_are_off():
    assert "at most one call" in emulation(parallel=False).instructions()


def test_the_follow_up_repeats_the_marker_and_the_problem():
    text = emulation(ToolChoice("required")).follow_up("did not call a tool")
    assert text.startswith("Your previous answer did not call a tool.") and T in text
    assert "get_weather, write_file" in text


def test_history_records_calls_and_results_without_the_marker():
    calls = render_tool_calls([ToolCall("call_1", "get_weather", '{"city": "Paris"}')])
    assert calls == '<tool_call_record id="call_1" name="get_weather">{"city":"Paris"}</tool_call_record>'
    result = render_tool_result(ToolResult("call_1", "18 C, sunny", name="get_weather"))
    assert result == '<tool_result call_id="call_1" name="get_weather">\n18 C, sunny\n</tool_result>'
    assert 'status="error"' in render_tool_result(ToolResult("call_2", "boom", is_error=True))


def test_history_keeps_arguments_that_are_not_json_as_sent():
    assert "{not json" in render_tool_calls([ToolCall("call_1", "get_weather", "{not json")])


# ---- parsing: what becomes a call ----------------------------------------------------------------------


def test_a_plain_answer_is_all_prose():
    parsed = emulation().parse("The weather is fine.")
    assert parsed.text == "The weather is fine." and not parsed.calls and not parsed.attempted


def test_a_call_block_becomes_calls_and_the_prose_before_it_stays():
    parsed = emulation().parse(f"Checking.\n{T}\n[{call('get_weather', city='Paris')}]")
    assert parsed.text == "Checking.\n"
    assert [(c.name, json.loads(c.arguments), c.index) for c in parsed.calls] == [("get_weather", {"city": "Paris"}, 0)]
    assert parsed.calls[0].id.startswith("call_") and len(parsed.calls[0].id) == 29


def test_parallel_calls_are_read_in_one_array_and_as_consecutive_objects():
    em = emulation()
    array = em.parse(f"{T}\n[{call('get_weather', city='A')}, {call('get_weather', city='B')}]")
    objects = em.parse(f"{T}\n{call('get_weather', city='A')}\n{call('write_file', path='p', content='c')}")
    assert [c.index for c in array.calls] == [0, 1] and len({c.id for c in array.calls}) == 2
    assert [c.name for c in objects.calls] == ["get_weather", "write_file"]


def test_a_marker_before_each_call_still_gives_every_call():
    parsed = emulation().parse(f"{T}\n{call('get_weather', city='A')}\n{T}\n{call('get_weather', city='B')}")
    assert [json.loads(c.arguments)["city"] for c in parsed.calls] == ["A", "B"] and parsed.text == ""


def test_a_removed_mention_never_joins_its_neighbours_into_the_marker():
    parsed = emulation().parse(f"{T[:9]}{T}{T[9:]}\n{T}\n[{call('get_weather', city='A')}]")
    assert T not in parsed.text and len(parsed.calls) == 1


def test_the_last_marker_holds_the_calls_and_an_earlier_mention_is_not_shown():
    parsed = emulation().parse(f"I will use {T} now.\n{T}\n[{call('get_weather', city='Oslo')}]")
    assert parsed.text == "I will use   now.\n" and [c.name for c in parsed.calls] == ["get_weather"]


def test_json_in_a_markdown_fence_is_recognised():
    parsed = emulation().parse(f"{T}\n```json\n[{call('get_weather', city='Rome')}]\n```")
    assert [c.name for c in parsed.calls] == ["get_weather"] and not parsed.rejected


def test_trailing_commentary_after_the_json_is_dropped():
    parsed = emulation().parse(f"{T}\n[{call('get_weather', city='Rome')}]\nI'll wait for the result {{maybe}}.")
    assert len(parsed.calls) == 1 and "wait" not in parsed.text and not parsed.rejected


def test_the_shapes_models_copy_from_elsewhere_are_accepted():
    em = emulation()
    shapes = [
        {"name": "get_weather", "parameters": {"city": "X"}},
        {"name": "get_weather", "input": {"city": "X"}},
        {"name": "get_weather", "arguments": json.dumps({"city": "X"})},  # arguments double-encoded
        {"type": "function", "function": {"name": "get_weather", "arguments": '{"city": "X"}'}},
        {"tool_calls": [{"name": "get_weather", "arguments": {"city": "X"}}]},
    ]
    for shape in shapes:
        parsed = em.parse(f"{T}\n{json.dumps(shape)}")
        assert [json.loads(c.arguments) for c in parsed.calls] == [{"city": "X"}], shape


def test_long_escaped_file_contents_in_arguments_are_read_whole():
    content = 'def f():\n    return {"a": [1, 2]}  # } ] \\" \\\\ ' * 2000
    parsed = emulation().parse(f"{T}\n[{call('write_file', path='x.py', content=content)}]")
    assert json.loads(parsed.calls[0].arguments)["content"] == content


def test_string_scalars_are_coerced_to_the_schema_type():
    parsed = emulation().parse(f'{T}\n[{{"name": "get_weather", "arguments": {{"city": "A", "days": "3"}}}}]')
    assert json.loads(parsed.calls[0].arguments) == {"city": "A", "days": 3}


# ---- parsing: what never becomes a call ---------------------------------------------------------------


def test_markup_without_this_requests_marker_is_prose():
    quoted = f'The user wrote <tool_call>{call("get_weather", city="P")}</tool_call> and <<CALL_deadbeef>>' \
             f'[{call("get_weather", city="P")}]'
    parsed = emulation().parse(quoted)
    assert parsed.text == quoted and not parsed.calls and not parsed.attempted


def test_a_call_to_an_undeclared_tool_is_rejected():
    parsed = emulation().parse(f"{T}\n[{call('rm_rf', path='/')}]")
    assert not parsed.calls and parsed.rejected[0].name == "rm_rf"
    assert "no tool named 'rm_rf'" in parsed.problem()


def test_a_named_choice_refuses_calls_to_other_tools():
    parsed = emulation(ToolChoice("named", "write_file")).parse(f"{T}\n[{call('get_weather', city='A')}]")
    assert not parsed.calls and "may not be called now" in parsed.rejected[0].reason


@pytest.mark.parametrize(("arguments", "why"), [
    ({"days": 2}, "'city' is a required property"),
    ({"city": "A", "unit": "K"}, "'K' is not one of"),
    ({"city": "A", "extra": 1}, "Additional properties are not allowed"),
    ({"city": "A", "days": "soon"}, "is not of type 'integer'"),
])
def test_arguments_that_fail_the_schema_are_rejected(arguments, why):
    parsed = emulation().parse(f"{T}\n[{json.dumps({'name': 'get_weather', 'arguments': arguments})}]")
    assert not parsed.calls and why in parsed.rejected[0].reason


def test_broken_json_is_rejected_and_never_shown():
    parsed = emulation().parse(f"Sure.\n{T}\n[{{'name': 'get_weather', 'arguments': {{}}}}]")
    assert not parsed.calls and parsed.text == "Sure.\n" and "not valid JSON" in parsed.rejected[0].reason


def test_a_call_cut_off_by_the_output_limit_is_rejected():
    parsed = emulation().parse(f"{T}\n[{call('get_weather', city='Par')[:-6]}")
    assert not parsed.calls and "cut off" in parsed.rejected[0].reason and parsed.text == ""


def test_a_marker_followed_by_prose_is_rejected():
    parsed = emulation().parse(f"{T} I would call get_weather here.")
    assert not parsed.calls and parsed.attempted and "not followed by a JSON call" in parsed.problem()


def test_only_one_call_is_kept_when_parallel_calls_are_off():
    parsed = emulation(parallel=False).parse(f"{T}\n[{call('get_weather', city='A')}, {call('get_weather', city='B')}]")
    assert len(parsed.calls) == 1 and "only one call" in parsed.rejected[0].reason


def test_a_block_past_the_size_cap_is_refused():
    em = emulation()
    parser = em.parser()
    assert parser.feed(f"Hi.\n{T}\n[") == "Hi.\n"
    chunk = "x" * 65536
    for _ in range(MAX_BLOCK_CHARS // len(chunk) + 2):
        assert parser.feed(chunk) == ""
    end = parser.finish()
    assert not end.calls and "longer than" in end.rejected[0].reason and end.text == ""


def test_prose_answer_reports_no_call():
    assert emulation(ToolChoice("required")).parse("It is sunny.").problem() == "did not call a tool"


# ---- streaming ------------------------------------------------------------------------------------------


def test_a_plain_answer_streams_through_at_once():
    parser = emulation().parser()
    assert [parser.feed(piece) for piece in ["Hello", ", world", ". Bye."]] == ["Hello", ", world", ". Bye."]
    assert parser.finish().text == ""


def test_only_what_may_start_the_marker_is_held_back():
    parser = emulation().parser()
    assert parser.feed("a <") == "a "
    assert parser.feed("<CA") == ""
    assert parser.feed("T is a cat") == "<<CAT is a cat"
    assert parser.finish().text == ""


def test_the_markup_never_reaches_the_stream_whatever_the_cut():
    text = f"Let me look.\n{T}\n```json\n[{call('get_weather', city='Lima')}]\n```\nDone."
    for size in range(1, 25):
        pieces, end = streamed(emulation(), text, size)
        assert "".join(pieces) + end.text == "Let me look.\n", size
        assert "CALL_" not in "".join(pieces) and [c.name for c in end.calls] == ["get_weather"]


def test_streaming_and_whole_parsing_agree_on_a_mention_before_the_call():
    text = f"Using {T} soon.\n{T}\n[{call('get_weather', city='A')}]"
    pieces, end = streamed(emulation(), text, 4)
    assert "".join(pieces) + end.text == emulation().parse(text).text == "Using   soon.\n"


def test_a_required_call_holds_all_prose_until_the_end():
    pieces, end = streamed(emulation(ToolChoice("required")), "Just prose, no call.")
    assert not any(pieces) and end.text == "Just prose, no call." and end.problem() == "did not call a tool"


def test_an_unfinished_marker_at_the_end_is_prose():
    pieces, end = streamed(emulation(), "Ends with <<CALL_0bad", 5)
    assert "".join(pieces) + end.text == "Ends with <<CALL_0bad" and not end.attempted


# ---- the JSON scanner ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "end"), [
    ('{"a": "}"}', 10), ('[{"a": "\\"]"}] tail', 14), ('{"a": [1, {"b": 2}]}x', 20), ('{"a": "', -1), ("[", -1),
])
def test_the_json_scanner_respects_strings_and_escapes(text, end):
    assert json_value_end(text, 0) == end
