"""Responses `tools` and `tool_choice` onto the shared tool emulation."""
from __future__ import annotations

import pytest
from rest_framework.exceptions import ValidationError

from openai_api.responses_api.tools import parse_tool_request

WEATHER = {"type": "function", "name": "weather", "description": "Weather in a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def _error_param(**fields) -> str:
    with pytest.raises(ValidationError) as caught:
        parse_tool_request(**{"tools": [WEATHER], "tool_choice": "auto", "parallel": True, **fields})
    (param,) = caught.value.detail
    return param


def test_function_tools_are_emulated_and_other_types_left_out():
    request = parse_tool_request(tools=[WEATHER, {"type": "web_search"}, {"type": "namespace", "name": "x",
                                                                         "tools": []}],
                                 tool_choice="auto", parallel=False)
    assert [tool.name for tool in request.tools] == ["weather"]
    assert request.tools[0].parameters == WEATHER["parameters"] and request.parallel is False
    assert request.emulation() is not None


@pytest.mark.parametrize(("raw", "mode", "name"), [
    ("none", "none", None), ("auto", "auto", None), ("required", "required", None), (None, "auto", None),
    ({"type": "function", "name": "weather"}, "named", "weather"),
])
def test_tool_choice_maps_onto_the_emulations_modes(raw, mode, name):
    choice = parse_tool_request(tools=[WEATHER], tool_choice=raw, parallel=True).choice
    assert (choice.mode, choice.name) == (mode, name)


def test_choice_none_or_no_tools_means_no_emulation():
    assert parse_tool_request(tools=[WEATHER], tool_choice="none", parallel=True).emulation() is None
    assert parse_tool_request(tools=[], tool_choice="auto", parallel=True).emulation() is None


@pytest.mark.parametrize(("fields", "param"), [
    ({"tools": [{**WEATHER, "name": ""}]}, "tools[0].name"),
    ({"tools": [{**WEATHER, "parameters": {"type": "object", "properties": 3}}]}, "tools[0].parameters"),
    ({"tools": [WEATHER, WEATHER]}, "tools"),
    ({"tool_choice": {"type": "function", "name": "nope"}}, "tool_choice.name"),
    ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": [], "tool_choice": "required"}, "tool_choice"),
])
def test_bad_tools_are_refused_naming_the_param(fields, param):
    assert _error_param(**fields) == param
