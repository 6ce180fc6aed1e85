"""OpenAI request shapes: validation of /v1/chat/completions bodies into typed messages."""
from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from rest_framework import serializers

from completions.tool_arguments import SchemaInvalid, schema_check
from completions.tool_emulation import ToolCall, ToolChoice, ToolDefinition, ToolRequest
from gempool_site.exceptions import BadRequestError
from openai_api.conversation import Attachment, Message

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
TEXT_PART_TYPES = {"text", "input_text", "output_text"}
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names


def _fail(param: str, message: str) -> None:
    raise serializers.ValidationError({param: [message]})


def _attachment_from_part(part: dict, param: str) -> Attachment:
    kind = part.get("type")
    if kind in ("image_url", "input_image"):
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str) or not url:
            _fail(f"{param}.image_url.url", "An image_url part needs image_url.url (a data: URI or http(s) URL).")
        if url.startswith("data:"):
            return Attachment(kind="data_uri", value=url, param=f"{param}.image_url.url")
        return Attachment(kind="url", value=url, param=f"{param}.image_url.url")
    # kind == "file": {"file_id"} (original tool), {"file": {"file_id"}} or {"file": {"file_data", "filename"}}
    inner = part.get("file") if isinstance(part.get("file"), dict) else {}
    file_id = part.get("file_id") or inner.get("file_id")
    if isinstance(file_id, str) and file_id:
        return Attachment(kind="file_id", value=file_id, param=f"{param}.file_id")
    data = inner.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        filename = inner.get("filename") if isinstance(inner.get("filename"), str) else None
        return Attachment(kind="data_uri", value=data, filename=filename, param=f"{param}.file.file_data")
    _fail(param, "A file part needs file_id, file.file_id or file.file_data (a data: URI).")
    raise AssertionError  # unreachable: _fail raises


def _too_many_attachments(param: str, scope: str, limit: int, setting: str) -> BadRequestError:
    return BadRequestError(f"Too many images and files {scope}: at most {limit} ({setting}).", param=param,
                          code="too_many_attachments")


def _cap_request_attachments(count: int, param: str) -> None:
    if count > settings.GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST:
        raise _too_many_attachments(param, "in one request", settings.GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST,
                                    "GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST")


def _parse_content(content: Any, param: str) -> tuple[str, list[Attachment]]:
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        _fail(param, "content must be a string or a list of content parts.")
    texts: list[str] = []
    attachments: list[Attachment] = []
    for index, part in enumerate(content):
        part_param = f"{param}[{index}]"
        if isinstance(part, str):
            texts.append(part)
            continue
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            _fail(f"{part_param}.type", "Each content part must be an object with a 'type'.")
        kind = part["type"]
        if kind in TEXT_PART_TYPES:
            text = part.get("text")
            if not isinstance(text, str):
                _fail(f"{part_param}.text", "A text part needs a string 'text'.")
            texts.append(text)
        elif kind in ("image_url", "input_image", "file"):
            if len(attachments) == settings.GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE:
                raise _too_many_attachments(param, "in one message", settings.GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE,
                                            "GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE")
            attachments.append(_attachment_from_part(part, part_param))
        elif kind == "refusal":
            texts.append(str(part.get("refusal") or ""))
        else:
            _fail(f"{part_param}.type", f"Unsupported content part type {kind!r}; use text, image_url or file.")
    return "\n".join(texts), attachments


def _history_calls(calls: Any, param: str) -> list[ToolCall]:
    """An assistant message's `tool_calls` as sent back by the client."""
    if calls is None:
        return []
    if not isinstance(calls, list):
        _fail(param, "tool_calls must be a list.")
    parsed = []
    for index, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            _fail(f"{param}[{index}].function", "Each tool call needs function.name and function.arguments.")
        arguments = function.get("arguments", "")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        call_id = call.get("id") if isinstance(call.get("id"), str) else ""
        parsed.append(ToolCall(id=call_id, name=function["name"], arguments=arguments, index=index))
    return parsed


def _role(value: Any, param: str) -> str:
    if not isinstance(value, str) or value not in ROLES:  # a list or dict is unhashable: no `in` on a set
        _fail(param, f"role must be one of {', '.join(sorted(ROLES))}.")
    return value


def _require_some_content(messages: list[Message], param: str, message: str) -> None:
    if not any(m.text.strip() or m.attachments or m.tool_calls for m in messages):
        _fail(param, message)


def parse_messages(raw: Any) -> list[Message]:
    """OpenAI `messages` into Message objects; errors name the exact param (messages[2].content[0].type)."""
    if not isinstance(raw, list) or not raw:
        _fail("messages", "messages must be a non-empty list.")
    messages = []
    attachment_count = 0
    for index, item in enumerate(raw):
        param = f"messages[{index}]"
        if not isinstance(item, dict):
            _fail(param, "Each message must be an object with 'role' and 'content'.")
        role = _role(item.get("role"), f"{param}.role")
        text, attachments = _parse_content(item.get("content"), f"{param}.content")
        attachment_count += len(attachments)
        _cap_request_attachments(attachment_count, "messages")
        calls = _history_calls(item.get("tool_calls"), f"{param}.tool_calls") if role == "assistant" else []
        name = item.get("name") if isinstance(item.get("name"), str) else None
        call_id = item.get("tool_call_id") if isinstance(item.get("tool_call_id"), str) else None
        messages.append(Message(role=role, text=text, attachments=attachments, name=name, tool_calls=calls,
                                tool_call_id=call_id))
    _require_some_content(messages, "messages", "The messages hold no text and no attachments.")
    return messages


def _prompt_file(entry: Any, param: str) -> Attachment:
    """One entry of a prompt's `files`; the attachment keeps the path the client sent (prompts[0].files[1].data)."""
    if not isinstance(entry, dict):
        _fail(param, "Each file needs 'data' (a data: URI) or 'file_id'.")
    data, file_id = entry.get("data"), entry.get("file_id")
    if isinstance(data, str) and data:
        kind = "data_uri" if data.startswith("data:") else "url"
        return Attachment(kind=kind, value=data, param=f"{param}.data")
    if isinstance(file_id, str) and file_id:
        return Attachment(kind="file_id", value=file_id, param=f"{param}.file_id")
    if data is not None:
        _fail(f"{param}.data", "data must be a data: URI (data:image/png;base64,...).")
    _fail(param, "Each file needs 'data' (a data: URI) or 'file_id'.")
    raise AssertionError  # unreachable: _fail raises


def _prompt_message(item: Any, param: str) -> Message:
    if not isinstance(item, dict):
        _fail(param, "Each prompt must be an object with 'role' and 'text'.")
    role = _role(item.get("role", "user"), f"{param}.role")
    text = item.get("text")
    if text is not None and not isinstance(text, str):
        _fail(f"{param}.text", "text must be a string.")
    files = item.get("files")
    if files is not None and not isinstance(files, list):
        _fail(f"{param}.files", "files must be a list.")
    if files and len(files) > settings.GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE:
        raise _too_many_attachments(f"{param}.files", "in one message", settings.GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE,
                                    "GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE")
    attachments = [_prompt_file(entry, f"{param}.files[{position}]") for position, entry in enumerate(files or [])]
    return Message(role=role, text=text or "", attachments=attachments)


def parse_tools(raw: Any) -> tuple[ToolDefinition, ...]:
    """OpenAI `tools` (function tools only) into ToolDefinitions; each schema is checked to be usable."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        _fail("tools", "tools must be a list of function tools.")
    tools: dict[str, ToolDefinition] = {}
    for index, item in enumerate(raw):
        param = f"tools[{index}]"
        if not isinstance(item, dict) or item.get("type", "function") != "function":
            _fail(f"{param}.type", "Only tools of type 'function' are supported.")
        function = item.get("function")
        if not isinstance(function, dict):
            _fail(f"{param}.function", "A function tool needs a 'function' object.")
        name = function.get("name")
        if not isinstance(name, str) or not TOOL_NAME.match(name):
            _fail(f"{param}.function.name", "name must be 1-64 letters, digits, underscores or dashes.")
        if name in tools:
            _fail(f"{param}.function.name", f"The tool name {name!r} is used twice.")
        description = function.get("description") or ""
        if not isinstance(description, str):
            _fail(f"{param}.function.description", "description must be a string.")
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        try:
            schema_check(parameters)
        except SchemaInvalid as error:
            _fail(f"{param}.function.parameters", f"Invalid JSON Schema: {error}")
        tools[name] = ToolDefinition(name=name, description=description, parameters=parameters)
    return tuple(tools.values())


def parse_tool_choice(raw: Any, tools: tuple[ToolDefinition, ...]) -> ToolChoice:
    """`tool_choice`: "none" | "auto" | "required" | {"type": "function", "function": {"name"}}."""
    if raw is None:
        return ToolChoice("auto")
    if raw in ("none", "auto", "required"):
        if raw == "required" and not tools:
            _fail("tool_choice", "tool_choice 'required' needs tools.")
        return ToolChoice(raw)
    function = raw.get("function") if isinstance(raw, dict) and raw.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        _fail("tool_choice", 'tool_choice must be "none", "auto", "required" or '
                             '{"type": "function", "function": {"name": ...}}.')
    if name not in {tool.name for tool in tools}:
        _fail("tool_choice.function.name", f"tool_choice names {name!r}, which is not among the tools.")
    return ToolChoice("named", name)


def parse_prompts(raw: Any) -> list[Message]:
    """The original tool's `prompts` format: [{"role", "text", "files": [{"data": "data:...", "type"}]}].

    Parsed on its own rather than converted to `messages`, so every error names the field the client sent.
    """
    if not isinstance(raw, list) or not raw:
        _fail("prompts", "prompts must be a non-empty list.")
    messages = [_prompt_message(item, f"prompts[{index}]") for index, item in enumerate(raw)]
    _cap_request_attachments(sum(len(m.attachments) for m in messages), "prompts")
    _require_some_content(messages, "prompts", "The prompts hold no text and no files.")
    return messages


MODEL_MAX_LENGTH = 200


def parse_chat_request(body: Any) -> dict:
    """A /v1/chat/completions body, validated: `model`, `parsed_messages`, `stream`, `include_usage` and
    `tool_request` (None without tools). Everything else OpenAI clients send (temperature, ...) is ignored.

    Written out rather than declared as a DRF serializer: for these eight fields DRF's machinery (binding each
    field to a new serializer, running its validators) cost about 60 us a request, twenty times the checks
    themselves (bench/README.md). A bad field raises ValidationError naming it, answered in OpenAI's envelope;
    openai_api.schema describes the same fields for /api/schema/.
    """
    if not isinstance(body, dict):
        raise serializers.ValidationError({"non_field_errors": [
            f"The request body must be a JSON object, not {type(body).__name__}."]})
    model = _model(body.get("model"))
    stream = _flag(body.get("stream"), "stream", default=False)
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        _fail("stream_options", "stream_options must be an object, such as {\"include_usage\": true}.")
    include_usage = _flag((options or {}).get("include_usage"), "stream_options.include_usage", default=False)
    parallel = _flag(body.get("parallel_tool_calls"), "parallel_tool_calls", default=True)
    if body.get("messages") is not None:
        messages = parse_messages(body["messages"])
    elif body.get("prompts") is not None:
        messages = parse_prompts(body["prompts"])
    else:
        _fail("messages", "messages is required.")
    tools = parse_tools(body.get("tools"))
    choice = parse_tool_choice(body.get("tool_choice"), tools)
    return {"model": model, "parsed_messages": messages, "stream": stream, "include_usage": stream and include_usage,
            "tool_request": ToolRequest(tools, choice, parallel) if tools else None}


def _model(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        _fail("model", "model must be a string: the name of a model from /v1/models.")
    if not value or not value.strip():
        _fail("model", "model is required: the name of a model from /v1/models.")
    if len(value.strip()) > MODEL_MAX_LENGTH:
        _fail("model", f"model must be at most {MODEL_MAX_LENGTH} characters.")
    return value.strip()


def _flag(value: Any, param: str, *, default: bool) -> bool:
    """A boolean option; null means the default. The strings and numbers DRF's BooleanField reads as booleans
    ("true", 1, ...) are read so too, as this API accepted them before."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int, float)):
        if value in serializers.BooleanField.TRUE_VALUES:
            return True
        if value in serializers.BooleanField.FALSE_VALUES:
            return False
    _fail(param, f"{param} must be true or false.")
    raise AssertionError  # unreachable: _fail raises
