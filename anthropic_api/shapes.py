"""Anthropic's message object and its stream events, built block by block.

One MessageBuilder serves both kinds of call: a streamed message sends every event it returns, a non-stream
one keeps only the finished content. Per block: content_block_start, deltas, content_block_stop; a message:
message_start, the blocks, message_delta (stop_reason, usage), message_stop.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from completions.tool_types import ToolCall

Event = dict[str, Any]
PING = b'event: ping\ndata: {"type":"ping"}\n\n'


def encode(event: Event) -> bytes:
    """One SSE event named by its type, as Anthropic sends them."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


def tool_use_id(call: ToolCall) -> str:
    """Anthropic's id shape (`toolu_...`) for a call the run engine named `call_...`."""
    return "toolu_" + call.id.removeprefix("call_")


def thinking_signature(thinking: str) -> str:
    """An opaque signature over the thoughts, as Anthropic attaches to every thinking block (clients send it
    back with the block); gempool's is an HMAC under the site key, so it is stable and not forgeable."""
    digest = hmac.new(settings.SECRET_KEY.encode(), thinking.encode(), hashlib.sha256).digest()
    return base64.b64encode(b"gempool-thinking-v1:" + digest).decode()


def usage(*, input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """Anthropic's usage object (estimates: the upstream reports no token counts)."""
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0}


@dataclass
class _Block:
    kind: str  # "text" | "thinking"
    index: int
    texts: list[str] = field(default_factory=list)


class MessageBuilder:
    def __init__(self, *, message_id: str, model: str, input_tokens: int) -> None:
        self.message_id = message_id
        self.model = model
        self.input_tokens = input_tokens
        self.content: list[dict[str, Any]] = []  # finished blocks, in order
        self.output_chars = 0
        self._open: _Block | None = None

    def _message(self, *, content: list, stop_reason: str | None, stop_sequence: str | None,
                 output_tokens: int) -> dict[str, Any]:
        return {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
                "usage": usage(input_tokens=self.input_tokens, output_tokens=output_tokens)}

    def start(self) -> list[Event]:
        message = self._message(content=[], stop_reason=None, stop_sequence=None, output_tokens=1)
        return [{"type": "message_start", "message": message}]

    def text(self, kind: str, text: str) -> list[Event]:
        """A fragment of the answer (kind "text") or of the thoughts ("thinking")."""
        if not text:
            return []
        events: list[Event] = []
        if self._open is None or self._open.kind != kind:
            events += self._close()
            events += self._start_block(kind)
        self._open.texts.append(text)
        self.output_chars += len(text)
        delta = {"type": "text_delta", "text": text} if kind == "text" else \
            {"type": "thinking_delta", "thinking": text}
        return events + [{"type": "content_block_delta", "index": self._open.index, "delta": delta}]

    def tool_use(self, call: ToolCall) -> list[Event]:
        """A whole tool_use block: start (empty input), the input as one input_json_delta, stop."""
        events = self._close()
        arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        block = {"type": "tool_use", "id": tool_use_id(call), "name": call.name, "input": arguments}
        index = len(self.content)
        self.content.append(block)
        self.output_chars += len(call.name) + len(call.arguments)
        partial = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
        return events + [
            {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}},
            {"type": "content_block_delta", "index": index,
             "delta": {"type": "input_json_delta", "partial_json": partial}},
            {"type": "content_block_stop", "index": index},
        ]

    def finish(self, *, stop_reason: str, stop_sequence: str | None = None,
               output_tokens: int) -> tuple[dict[str, Any], list[Event]]:
        """The whole message and the events that end the stream."""
        events = self._close()
        message = self._message(content=list(self.content), stop_reason=stop_reason, stop_sequence=stop_sequence,
                                output_tokens=output_tokens)
        return message, events + [
            {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
             "usage": {"output_tokens": output_tokens}},
            {"type": "message_stop"},
        ]

    def _start_block(self, kind: str) -> list[Event]:
        self._open = _Block(kind, len(self.content))
        self.content.append({})  # its place, filled when it closes
        start = {"type": "text", "text": ""} if kind == "text" else \
            {"type": "thinking", "thinking": "", "signature": ""}
        return [{"type": "content_block_start", "index": self._open.index, "content_block": start}]

    def _close(self) -> list[Event]:
        block, self._open = self._open, None
        if block is None:
            return []
        text = "".join(block.texts)
        events: list[Event] = []
        if block.kind == "text":
            self.content[block.index] = {"type": "text", "text": text}
        else:
            signature = thinking_signature(text)
            self.content[block.index] = {"type": "thinking", "thinking": text, "signature": signature}
            events.append({"type": "content_block_delta", "index": block.index,
                           "delta": {"type": "signature_delta", "signature": signature}})
        return events + [{"type": "content_block_stop", "index": block.index}]
