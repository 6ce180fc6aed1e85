"""The typed values of emulated tool calling, shared by the renderer, the parser and every API face."""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChoiceMode = Literal["none", "auto", "required", "named"]


@dataclass(frozen=True)
class ToolDefinition:
    """A function the client offers: name, what it does, its arguments as a JSON Schema object."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolChoice:
    """none: never call; auto: the model decides; required: at least one call; named: a call to `name`."""

    mode: ChoiceMode = "auto"
    name: str | None = None

    @property
    def requires_call(self) -> bool:
        return self.mode in ("required", "named")


@dataclass(frozen=True)
class ToolCall:
    """A call the model made (or, in history, made earlier). `arguments` is JSON text, as OpenAI sends it."""

    id: str
    name: str
    arguments: str
    index: int = 0  # position among the calls of one answer


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned to the client, sent back in a later request."""

    call_id: str
    content: str
    name: str | None = None
    is_error: bool = False


def new_call_id() -> str:
    """An id in OpenAI's shape: `call_` and 24 random characters."""
    return "call_" + secrets.token_hex(12)


@dataclass(frozen=True)
class CallRejected:
    """A call the model tried to make that cannot be handed to the client, and why."""

    reason: str
    name: str | None = None


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer split into prose for the client and calls. `attempted`: the marker was there at all."""

    text: str
    calls: tuple[ToolCall, ...] = ()
    rejected: tuple[CallRejected, ...] = ()
    attempted: bool = False

    def problem(self) -> str | None:
        """Why the answer made no usable call, in words for the follow-up question (None if it made one)."""
        if self.calls:
            return None
        if self.rejected:
            return "tried to call a tool but the call could not be used: " + \
                "; ".join(r.reason for r in self.rejected[:3])
        return "did not call a tool"
