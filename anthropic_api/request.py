"""Anthropic `/v1/messages` bodies into the run engine's typed conversation, tools and options.

Errors name the field as Anthropic does (`messages.2.content.0.source.data: ...`). Fields gempool cannot act
on (temperature, top_k, metadata, cache_control, ...) are accepted and ignored, as clients send them freely.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from completions.tool_arguments import SchemaInvalid, schema_check
from completions.tool_emulation import ToolCall, ToolChoice, ToolDefinition, ToolRequest
from gempool_site.exceptions import BadRequestError
from openai_api.conversation import Attachment, Message

MAX_STOP_SEQUENCES = 16
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
IGNORED_BLOCKS = frozenset({"thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result",
                            "search_result", "container_upload"})  # history the model need not reread


def fail(param: str, message: str) -> None:
    raise BadRequestError(f"{param}: {message}", param=param)


@dataclass(frozen=True)
class MessagesRequest:
    """One validated request: the conversation (system first), tools and the answer's options."""

    model: str
    messages: list[Message]
    tool_request: ToolRequest | None
    stream: bool = False
    max_tokens: int | None = None
    stop_sequences: tuple[str, ...] = ()
    thinking: bool = False
    attachments: int = field(default=0)


def parse_messages_request(body: Any, *, count_only: bool = False) -> MessagesRequest:
    """The whole body; `count_only` (count_tokens) needs no max_tokens and ignores stream."""
    if not isinstance(body, dict):
        fail("body", "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        fail("model", "Field required: the model to use.")
    max_tokens = None if count_only else _max_tokens(body.get("max_tokens"))
    messages = _system(body.get("system")) + _conversation(body.get("messages"))
    tools = _tools(body.get("tools"))
    choice, parallel = _tool_choice(body.get("tool_choice"), tools)
    return MessagesRequest(
        model=model.strip(), messages=messages,
        tool_request=ToolRequest(tools=tools, choice=choice, parallel=parallel) if tools else None,
        stream=False if count_only else _flag(body.get("stream"), "stream"), max_tokens=max_tokens,
        stop_sequences=_stop_sequences(body.get("stop_sequences")), thinking=_thinking(body.get("thinking")),
        attachments=sum(len(m.attachments) for m in messages))


def _max_tokens(value: Any) -> int:
    if value is None:
        fail("max_tokens", "Field required.")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail("max_tokens", "max_tokens must be an integer of at least 1.")
    return value


def _flag(value: Any, param: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        fail(param, f"{param} must be a boolean.")
    return value


def _system(value: Any) -> list[Message]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [Message(role="system", text=value)]
    if not isinstance(value, list):
        fail("system", "system must be a string or a list of text blocks.")
    texts = []
    for index, block in enumerate(value):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            fail(f"system.{index}", "Each system block must be {\"type\": \"text\", \"text\": ...}.")
        texts.append(block["text"])
    return [Message(role="system", text="\n\n".join(texts))] if texts else []


def _conversation(value: Any) -> list[Message]:
    if not isinstance(value, list) or not value:
        fail("messages", "messages must be a non-empty list.")
    messages: list[Message] = []
    for index, item in enumerate(value):
        param = f"messages.{index}"
        if not isinstance(item, dict):
            fail(param, "Each message must be an object with 'role' and 'content'.")
        role = item.get("role")
        # Claude Code also sends system messages between the turns (a beta); they join the system prompt.
        if role not in ("user", "assistant", "system"):
            fail(f"{param}.role", "role must be 'user' or 'assistant'.")
        messages += _turn(role, item.get("content"), f"{param}.content")
    if not any(m.text.strip() or m.attachments or m.tool_calls for m in messages if m.role != "system"):
        fail("messages", "The messages hold no text, no images and no documents.")
    return messages


def _turn(role: str, content: Any, param: str) -> list[Message]:
    """One Anthropic message: its tool results become tool messages (in order), the rest one message."""
    if isinstance(content, str):
        return [Message(role=role, text=content)]
    if not isinstance(content, list):
        fail(param, "content must be a string or a list of content blocks.")
    results: list[Message] = []
    texts: list[str] = []
    attachments: list[Attachment] = []
    calls: list[ToolCall] = []
    for index, block in enumerate(content):
        block_param = f"{param}.{index}"
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str):
            fail(f"{block_param}.type", "Each content block must be an object with a 'type'.")
        if kind == "text":
            texts.append(_text(block, block_param))
        elif kind in ("image", "document"):
            text, attachment = _source(block, block_param)
            texts += [text] if text else []
            attachments += [attachment] if attachment else []
        elif kind == "tool_use" and role == "assistant":
            calls.append(_tool_use(block, block_param, len(calls)))
        elif kind == "tool_result" and role == "user":
            results.append(_tool_result(block, block_param))
        elif kind not in IGNORED_BLOCKS:
            fail(f"{block_param}.type", f"Unsupported content block type {kind!r} in a {role} message.")
    rest = Message(role=role, text="\n\n".join(texts), attachments=attachments, tool_calls=calls)
    return results + ([rest] if rest.text or rest.attachments or rest.tool_calls or not results else [])


def _text(block: dict, param: str) -> str:
    if not isinstance(block.get("text"), str):
        fail(f"{param}.text", "A text block needs a string 'text'.")
    return block["text"]


def _source(block: dict, param: str) -> tuple[str, Attachment | None]:
    """An image or document block: an attachment to upload, or (text documents) text to include."""
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    param = f"{param}.source"
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str) or not data:
            fail(param, "A base64 source needs 'media_type' and 'data'.")
        if block["type"] == "image" and media_type not in IMAGE_TYPES:
            fail(f"{param}.media_type", f"Image media_type must be one of {', '.join(sorted(IMAGE_TYPES))}.")
        return "", Attachment(kind="data_uri", value=f"data:{media_type};base64,{data}", param=f"{param}.data",
                              filename=_title(block))
    if kind == "url":
        if block["type"] != "image":
            fail(f"{param}.type", "Documents by URL are not supported: send them as base64 or text.")
        if not isinstance(source.get("url"), str) or not source["url"]:
            fail(f"{param}.url", "A url source needs 'url'.")
        return "", Attachment(kind="url", value=source["url"], param=f"{param}.url")
    if kind == "file":
        if not isinstance(source.get("file_id"), str) or not source["file_id"]:
            fail(f"{param}.file_id", "A file source needs 'file_id' (from /v1/files).")
        return "", Attachment(kind="file_id", value=source["file_id"], param=f"{param}.file_id")
    if kind in ("text", "content") and block["type"] == "document":
        return _document_text(block, source, param), None
    fail(f"{param}.type", "source.type must be base64, url or file (documents also text or content).")
    raise AssertionError  # unreachable: fail raises


def _title(block: dict) -> str | None:
    title = block.get("title")
    return title if isinstance(title, str) and title.strip() else None


def _document_text(block: dict, source: dict, param: str) -> str:
    if source["type"] == "text":
        if not isinstance(source.get("data"), str):
            fail(f"{param}.data", "A text source needs string 'data'.")
        body = source["data"]
    else:
        parts = source.get("content")
        if isinstance(parts, str):
            body = parts
        elif isinstance(parts, list):
            body = "\n\n".join(_text(part, f"{param}.content.{index}") for index, part in enumerate(parts))
        else:
            fail(f"{param}.content", "A content source needs a string or a list of text blocks.")
    title = _title(block)
    head = f'<document title="{title}">' if title else "<document>"
    return f"{head}\n{body}\n</document>"


def _tool_use(block: dict, param: str, index: int) -> ToolCall:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not isinstance(name, str) or not name:
        fail(param, "A tool_use block needs 'id', 'name' and 'input'.")
    if not isinstance(arguments, dict):
        fail(f"{param}.input", "input must be an object.")
    return ToolCall(id=call_id, name=name, arguments=json.dumps(arguments, ensure_ascii=False), index=index)


def _tool_result(block: dict, param: str) -> Message:
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        fail(f"{param}.tool_use_id", "A tool_result block needs 'tool_use_id'.")
    content = block.get("content")
    texts: list[str] = []
    attachments: list[Attachment] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for index, part in enumerate(content):
            part_param = f"{param}.content.{index}"
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(_text(part, part_param))
            elif kind in ("image", "document"):
                text, attachment = _source(part, part_param)
                texts += [text] if text else []
                attachments += [attachment] if attachment else []
            elif kind not in IGNORED_BLOCKS:
                fail(f"{part_param}.type", "A tool result holds text, image or document blocks.")
    elif content is not None:
        fail(f"{param}.content", "content must be a string or a list of blocks.")
    return Message(role="tool", text="\n\n".join(texts), attachments=attachments, tool_call_id=call_id,
                   tool_error=block.get("is_error") is True)


def _tools(value: Any) -> tuple[ToolDefinition, ...]:
    """Custom tools (name, description, input_schema). Anthropic's server tools (web search, bash, ...)
    carry a versioned `type`: the upstream cannot run them, so they are left out rather than refused."""
    if value is None:
        return ()
    if not isinstance(value, list):
        fail("tools", "tools must be a list.")
    tools: dict[str, ToolDefinition] = {}
    for index, tool in enumerate(value):
        param = f"tools.{index}"
        if not isinstance(tool, dict):
            fail(param, "Each tool must be an object.")
        if tool.get("type") not in (None, "custom"):
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name or len(name) > 128:
            fail(f"{param}.name", "A tool needs a name (at most 128 characters).")
        if name in tools:
            fail(f"{param}.name", f"Tool names must be unique: {name!r} is used twice.")
        description = tool.get("description") or ""
        if not isinstance(description, str):
            fail(f"{param}.description", "description must be a string.")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict):
            fail(f"{param}.input_schema", "Field required: a JSON Schema object.")
        try:
            schema_check(schema)
        except SchemaInvalid as error:
            fail(f"{param}.input_schema", f"Invalid JSON Schema: {error}")
        tools[name] = ToolDefinition(name=name, description=description, parameters=schema)
    return tuple(tools.values())


def _tool_choice(value: Any, tools: tuple[ToolDefinition, ...]) -> tuple[ToolChoice, bool]:
    """`{"type": "auto"|"any"|"tool"|"none", "name"?, "disable_parallel_tool_use"?}` -> (choice, parallel)."""
    if value is None:
        return ToolChoice("auto"), True
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        fail("tool_choice.type", "tool_choice.type must be auto, any, tool or none.")
    parallel = value.get("disable_parallel_tool_use") is not True
    if kind == "tool":
        name = value.get("name")
        if name not in {tool.name for tool in tools}:
            fail("tool_choice.name", f"tool_choice names {name!r}, which is not among the tools.")
        return ToolChoice("named", name), parallel
    if kind == "any" and not tools:
        fail("tool_choice", "tool_choice 'any' needs tools.")
    return ToolChoice({"auto": "auto", "any": "required", "none": "none"}[kind]), parallel


def _stop_sequences(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_STOP_SEQUENCES or not all(
            isinstance(item, str) and item for item in value):
        fail("stop_sequences", f"stop_sequences must be a list of at most {MAX_STOP_SEQUENCES} non-empty strings.")
    return tuple(value)


def _thinking(value: Any) -> bool:
    """`{"type": "enabled", "budget_tokens": N}` (or "adaptive") shows the model's thoughts; "disabled" hides
    them, and so does `"display": "omitted"` (the client asks not to be sent them)."""
    if value is None:
        return False
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("enabled", "disabled", "adaptive"):
        fail("thinking.type", "thinking.type must be enabled, disabled or adaptive.")
    budget = value.get("budget_tokens")
    if kind == "enabled" and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        fail("thinking.budget_tokens", "budget_tokens must be a positive integer.")
    return kind != "disabled" and value.get("display") != "omitted"
