"""Responses API `input` items: validation into a canonical form, and rendering as conversation messages.

The canonical items are what a stored response keeps as its context, so a follow-up request with
previous_response_id continues exactly the conversation the model saw.
"""
from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from completions.tool_types import ToolCall
from openai_api.conversation import Attachment, Message

MESSAGE_ROLES = {"user", "assistant", "system", "developer"}
TEXT_PARTS = {"input_text", "output_text", "text"}
SKIPPED_ITEMS = {"reasoning"}  # the model's own thoughts: never fed back into the query


def fail(param: str, message: str) -> None:
    raise serializers.ValidationError({param: [message]})


def parse_input(raw: Any) -> list[dict[str, Any]]:
    """`input` (a string or a list of items) as canonical items; errors name the exact param."""
    if isinstance(raw, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": raw}]}]
    if not isinstance(raw, list):
        fail("input", "input must be a string or a list of input items.")
    items = []
    for index, item in enumerate(raw):
        parsed = _parse_item(item, f"input[{index}]")
        if parsed is not None:
            items.append(parsed)
    return items


def _parse_item(item: Any, param: str) -> dict[str, Any] | None:
    if not isinstance(item, dict):
        fail(param, "Each input item must be an object.")
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        return _parse_message(item, param)
    if kind == "function_call":
        return {"type": "function_call", "call_id": _string(item, "call_id", param),
                "name": _string(item, "name", param), "arguments": _arguments(item.get("arguments"), param)}
    if kind == "function_call_output":
        return {"type": "function_call_output", "call_id": _string(item, "call_id", param),
                "output": _output_text(item.get("output"), f"{param}.output")}
    if kind in SKIPPED_ITEMS:
        return None
    fail(f"{param}.type", f"Unsupported input item type {kind!r}; use message, function_call, "
                          "function_call_output or reasoning.")
    return None


def _string(item: dict, key: str, param: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        fail(f"{param}.{key}", f"{key} must be a non-empty string.")
    return value


def _arguments(value: Any, param: str) -> str:
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    if isinstance(value, dict):  # some clients send the parsed object: keep it as the JSON string OpenAI uses
        return json.dumps(value, ensure_ascii=False)
    fail(f"{param}.arguments", "arguments must be a JSON string.")
    return ""


def _output_text(value: Any, param: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # output given as content parts: their text
        texts = [part.get("text") for part in value if isinstance(part, dict)]
        if all(isinstance(text, str) for text in texts) and len(texts) == len(value):
            return "\n".join(texts)
    fail(param, "output must be a string or a list of text parts.")
    return ""


def _parse_message(item: dict, param: str) -> dict[str, Any]:
    role = item.get("role")
    if not isinstance(role, str) or role not in MESSAGE_ROLES:
        fail(f"{param}.role", f"role must be one of {', '.join(sorted(MESSAGE_ROLES))}.")
    content = item.get("content")
    if isinstance(content, str):
        parts = [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
    elif isinstance(content, list):
        parts = [_parse_part(part, f"{param}.content[{index}]") for index, part in enumerate(content)]
    else:
        fail(f"{param}.content", "content must be a string or a list of content parts.")
    return {"type": "message", "role": role, "content": parts}


def _parse_part(part: Any, param: str) -> dict[str, Any]:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        fail(f"{param}.type", "Each content part must be an object with a 'type'.")
    kind = part["type"]
    if kind in TEXT_PARTS:
        if not isinstance(part.get("text"), str):
            fail(f"{param}.text", "A text part needs a string 'text'.")
        return {"type": kind, "text": part["text"]}
    if kind == "refusal":
        return {"type": "output_text", "text": str(part.get("refusal") or "")}
    if kind == "input_image":
        return _image_part(part, param)
    if kind == "input_file":
        return _file_part(part, param)
    fail(f"{param}.type", f"Unsupported content part type {kind!r}; use input_text, input_image or input_file.")
    return {}


def _image_part(part: dict, param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if isinstance(url, dict):  # the chat completions shape, which some clients reuse
        url = url.get("url")
    if isinstance(url, str) and url:
        return {"type": "input_image", "image_url": url}
    if isinstance(part.get("file_id"), str) and part["file_id"]:
        return {"type": "input_image", "file_id": part["file_id"]}
    fail(param, "An input_image part needs image_url (an http(s) or data: URL) or file_id.")
    return {}


def _file_part(part: dict, param: str) -> dict[str, Any]:
    if isinstance(part.get("file_id"), str) and part["file_id"]:
        return {"type": "input_file", "file_id": part["file_id"]}
    data = part.get("file_data")
    if isinstance(data, str) and data.startswith("data:"):
        filename = part.get("filename") if isinstance(part.get("filename"), str) else None
        return {"type": "input_file", "file_data": data, "filename": filename}
    if part.get("file_url"):
        fail(f"{param}.file_url", "file_url is not supported; send file_data (a data: URL) or a file_id "
                                  "from /v1/files.")
    fail(param, "An input_file part needs file_id or file_data (a data: URL).")
    return {}


# ---- rendering ------------------------------------------------------------------------------------


def to_messages(items: list[dict[str, Any]], *, instructions: str | None, carried: int = 0) -> list[Message]:
    """The conversation the run engine renders: instructions as the system turn, then every item. Calls an
    answer made join its assistant turn; each output is a tool result tied to its call. The first `carried`
    items come from previous_response_id (error params name them so), the rest are this request's input."""
    names = {item["call_id"]: item["name"] for item in items if item["type"] == "function_call"}
    messages = [Message(role="system", text=instructions)] if instructions else []
    for index, item in enumerate(items):
        if item["type"] == "message":
            param = f"input[{index - carried}]" if index >= carried else f"previous_response_id (item {index})"
            messages.append(_message(item, param))
        elif item["type"] == "function_call":
            call = ToolCall(id=item["call_id"], name=item["name"], arguments=item["arguments"])
            last = messages[-1] if messages else None
            if last is not None and last.role == "assistant" and not last.attachments:
                last.tool_calls.append(call)
            else:
                messages.append(Message(role="assistant", text="", tool_calls=[call]))
        else:
            messages.append(Message(role="tool", text=item["output"], tool_call_id=item["call_id"],
                                    name=names.get(item["call_id"])))
    return messages


def _message(item: dict[str, Any], param: str) -> Message:
    texts, attachments = [], []
    for index, part in enumerate(item["content"]):
        part_param = f"{param}.content[{index}]"
        if "text" in part:
            texts.append(part["text"])
        elif part.get("file_id"):
            attachments.append(Attachment(kind="file_id", value=part["file_id"], param=f"{part_param}.file_id"))
        elif part.get("image_url"):
            url = part["image_url"]
            attachments.append(Attachment(kind="data_uri" if url.startswith("data:") else "url", value=url,
                                          param=f"{part_param}.image_url"))
        else:
            attachments.append(Attachment(kind="data_uri", value=part["file_data"], filename=part.get("filename"),
                                          param=f"{part_param}.file_data"))
    return Message(role=item["role"], text="\n".join(texts), attachments=attachments)
