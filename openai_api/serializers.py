"""OpenAI request shapes: validation of /v1/chat/completions bodies into typed messages."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from gempool_site.exceptions import InvalidRequest
from openai_api.conversation import Attachment, Message

ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
TEXT_PART_TYPES = {"text", "input_text", "output_text"}


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


def _too_many_attachments(param: str, scope: str, limit: int, setting: str) -> InvalidRequest:
    return InvalidRequest(f"Too many images and files {scope}: at most {limit} ({setting}).", param=param,
                          code="too_many_attachments")


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


def _tool_calls_text(calls: Any) -> str:
    if not isinstance(calls, list):
        return ""
    lines = []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            lines.append(f"[called tool {function.get('name', '?')} with {function.get('arguments', '')}]")
    return "\n".join(lines)


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
        role = item.get("role")
        if not isinstance(role, str) or role not in ROLES:  # a list or dict is unhashable: no `in` on a set
            _fail(f"{param}.role", f"role must be one of {', '.join(sorted(ROLES))}.")
        text, attachments = _parse_content(item.get("content"), f"{param}.content")
        attachment_count += len(attachments)
        if attachment_count > settings.GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST:
            raise _too_many_attachments("messages", "in one request", settings.GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST,
                                        "GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST")
        if role == "assistant" and item.get("tool_calls"):
            text = "\n".join(filter(None, [text, _tool_calls_text(item["tool_calls"])]))
        name = item.get("name") if isinstance(item.get("name"), str) else None
        messages.append(Message(role=role, text=text, attachments=attachments, name=name))
    if not any(m.text.strip() or m.attachments for m in messages):
        _fail("messages", "The messages hold no text and no attachments.")
    return messages


def parse_prompts(raw: Any) -> list[Message]:
    """The original tool's `prompts` format: [{"role", "text", "files": [{"data": "data:...", "type"}]}]."""
    if not isinstance(raw, list) or not raw:
        _fail("prompts", "prompts must be a non-empty list.")
    converted = []
    for index, item in enumerate(raw):
        param = f"prompts[{index}]"
        if not isinstance(item, dict):
            _fail(param, "Each prompt must be an object with 'role' and 'text'.")
        parts: list[dict] = [{"type": "text", "text": item.get("text") or ""}]
        files = item.get("files") or []
        if not isinstance(files, list):
            _fail(f"{param}.files", "files must be a list.")
        for position, entry in enumerate(files):
            if isinstance(entry, dict) and isinstance(entry.get("data"), str):
                parts.append({"type": "image_url", "image_url": {"url": entry["data"]}})
            elif isinstance(entry, dict) and isinstance(entry.get("file_id"), str):
                parts.append({"type": "file", "file_id": entry["file_id"]})
            else:
                _fail(f"{param}.files[{position}]", "Each file needs 'data' (a data: URI) or 'file_id'.")
        converted.append({"role": item.get("role", "user"), "content": parts})
    try:
        return parse_messages(converted)
    except serializers.ValidationError as exc:
        # Re-label messages[i] as prompts[i] so the error points at what the client sent.
        detail = {key.replace("messages", "prompts", 1): value for key, value in exc.detail.items()}
        raise serializers.ValidationError(detail) from None
    except InvalidRequest as exc:
        if exc.param:
            exc.param = exc.param.replace("messages", "prompts", 1)
        raise


class LeanSerializer(serializers.Serializer):
    """A Serializer whose fields are shallow copies of the declared ones.

    DRF rebuilds every declared field for each serializer instance (deepcopy, then each field's __init__
    again): about 0.25 ms per chat request here, sixty times the validation itself. The declared fields are
    never bound, so a shallow copy is as fresh for binding as a rebuilt one.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: _shallow_copy(field) for name, field in self._declared_fields.items()}


def _shallow_copy(field: serializers.Field) -> serializers.Field:
    # copy.copy would do the same through __reduce_ex__, at five times the cost.
    clone = object.__new__(type(field))
    clone.__dict__.update(field.__dict__)
    return clone


class ParsedJSONField(serializers.Field):
    """Any JSON value, as the request body's parser produced it (JSONField would encode it again to check)."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class StreamOptionsSerializer(LeanSerializer):
    include_usage = serializers.BooleanField(required=False, default=False)


class ChatCompletionRequestSerializer(LeanSerializer):
    """The fields gempool acts on; everything else OpenAI clients send (temperature, ...) is ignored."""

    model = serializers.CharField(max_length=200, trim_whitespace=True)
    messages = ParsedJSONField(required=False)
    prompts = ParsedJSONField(required=False)
    stream = serializers.BooleanField(required=False, default=False)
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("messages") is not None:
            attrs["parsed_messages"] = parse_messages(attrs["messages"])
        elif attrs.get("prompts") is not None:
            attrs["parsed_messages"] = parse_prompts(attrs["prompts"])
        else:
            _fail("messages", "messages is required.")
        options = attrs.get("stream_options") or {}
        attrs["include_usage"] = bool(attrs.get("stream") and options.get("include_usage"))
        return attrs
