"""chat.completion(.chunk) shapes and their Server-Sent Events encoding."""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from completions.tool_types import ToolCall

KEEPALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"


def encode(payload: dict[str, Any]) -> bytes:
    """One SSE `data:` event."""
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


_TEXT_SLOT = "\x00text\x00"
_TEXT_SLOT_JSON = json.dumps(_TEXT_SLOT).encode()


def _json_string(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()


class ChunkFactory:
    """Builds the chunks of one streamed completion (same id, created and model on each)."""

    def __init__(self, *, completion_id: str, created: int, model: str, include_usage: bool = False) -> None:
        self.base = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        if include_usage:
            self.base["usage"] = None  # as OpenAI: every chunk but the last one says usage is yet to come
        # Text deltas are nearly every event of a stream: their bytes around the text never change, so
        # they are encoded once here and each delta only JSON-encodes its own string.
        self._content = self._frame({"content": _TEXT_SLOT})
        self._reasoning = self._frame({"reasoning_content": _TEXT_SLOT})

    def _frame(self, delta: dict[str, Any]) -> tuple[bytes, bytes]:
        head, _, tail = encode(self._chunk(delta)).partition(_TEXT_SLOT_JSON)
        return head, tail

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {**self.base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                          "finish_reason": finish_reason}]}

    def role(self) -> bytes:
        return encode(self._chunk({"role": "assistant", "content": ""}))

    def content(self, text: str) -> bytes:
        head, tail = self._content
        return head + _json_string(text) + tail

    def reasoning(self, text: str) -> bytes:
        head, tail = self._reasoning
        return head + _json_string(text) + tail

    def tool_call(self, call: ToolCall) -> bytes:
        """One call in two chunks, as OpenAI streams them: id and name first, then the arguments."""
        head = {"index": call.index, "id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": ""}}
        return (encode(self._chunk({"tool_calls": [head]}))
                + encode(self._chunk({"tool_calls": [{"index": call.index,
                                                      "function": {"arguments": call.arguments}}]})))

    def finish(self, reason: str) -> bytes:
        return encode(self._chunk({}, reason))

    def usage(self, usage: dict[str, Any]) -> bytes:
        return encode({**self.base, "choices": [], "usage": usage})


def error_event(message: str, *, type: str = "server_error", code: str | None = None) -> bytes:
    """The error event OpenAI's SDKs raise as APIError when it arrives mid-stream."""
    return encode({"error": {"message": message, "type": type, "param": None, "code": code}})


def usage_block(*, prompt_tokens: int, completion_tokens: int, reasoning_tokens: int) -> dict[str, Any]:
    """OpenAI's usage object (estimates: the upstream reports no token counts)."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }


def completion(*, completion_id: str, created: int, model: str, content: str, reasoning: str,
               finish_reason: str, usage: dict[str, Any], tool_calls: Sequence[ToolCall] = ()) -> dict[str, Any]:
    """A whole (non-stream) chat.completion."""
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if tool_calls:
        message["content"] = content or None  # OpenAI sends null beside calls when there is no text
        message["tool_calls"] = [{"id": call.id, "type": "function",
                                  "function": {"name": call.name, "arguments": call.arguments}}
                                 for call in tool_calls]
    return {
        "id": completion_id, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }
