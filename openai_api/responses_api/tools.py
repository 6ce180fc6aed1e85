"""The Responses API's `tools` and `tool_choice`, mapped onto the surface-neutral tool emulation.

Function tools are emulated (completions.tool_emulation). Other tool types clients send alongside them
(Codex sends `web_search` and `namespace` groups, for example) are accepted and left out: the upstream
cannot run them, and refusing the request would refuse the client altogether.
"""
from __future__ import annotations

from typing import Any

from completions.tool_arguments import SchemaInvalid, schema_check
from completions.tool_emulation import ToolChoice, ToolDefinition, ToolRequest
from openai_api.responses_api.items import fail

CHOICE_MODES = ("none", "auto", "required")


def parse_tool_request(*, tools: list[dict[str, Any]], tool_choice: Any, parallel: bool) -> ToolRequest:
    """Validate the function tools and the choice; errors name the param (tools[2].parameters)."""
    definitions = tuple(_definition(tool, f"tools[{index}]") for index, tool in enumerate(tools)
                        if tool.get("type") == "function")
    names = [definition.name for definition in definitions]
    if len(set(names)) != len(names):
        fail("tools", "Function tool names must be unique.")
    return ToolRequest(tools=definitions, choice=_choice(tool_choice, set(names)), parallel=parallel)


def _definition(tool: dict[str, Any], param: str) -> ToolDefinition:
    name = tool.get("name")
    if not isinstance(name, str) or not name or len(name) > 128:
        fail(f"{param}.name", "A function tool needs a name (at most 128 characters).")
    description = tool.get("description")
    if description is not None and not isinstance(description, str):
        fail(f"{param}.description", "description must be a string.")
    parameters = tool.get("parameters") or {}
    try:
        schema_check(parameters)
    except SchemaInvalid as error:
        fail(f"{param}.parameters", f"parameters is not a valid JSON Schema: {error}")
    return ToolDefinition(name=name, description=description or "", parameters=parameters)


def _choice(raw: Any, names: set[str]) -> ToolChoice:
    if raw is None or raw in CHOICE_MODES:
        mode = raw or "auto"
        if mode == "required" and not names:
            fail("tool_choice", "tool_choice 'required' needs at least one function tool.")
        return ToolChoice(mode=mode)
    if isinstance(raw, dict) and raw.get("type") == "function":
        name = raw.get("name")
        if name not in names:
            fail("tool_choice.name", f"tool_choice names {name!r}, which is not a function in tools.")
        return ToolChoice(mode="named", name=name)
    fail("tool_choice", "tool_choice must be none, auto, required or {\"type\": \"function\", \"name\": ...}.")
    return ToolChoice()
