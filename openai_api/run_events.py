"""What a ChatRun yields, in order: Opened, then Deltas (and Idles), then the ToolCalls the answer made (if
tools were offered) or the MediaReady of a run that must bring images, then Finished or Failed."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from completions.tool_types import ToolCall

if TYPE_CHECKING:
    from files_app.models import GeneratedMedia


@dataclass(frozen=True)
class Opened:
    """The upstream accepted the request (HTTP 200): the client may now be sent a 200 too."""

    account_id: int


@dataclass(frozen=True)
class Delta:
    kind: str  # "content" | "reasoning"
    text: str


@dataclass(frozen=True)
class Idle:
    """The upstream has been silent for GEMPOOL_KEEPALIVE_SECONDS: a moment to send a keep-alive."""


IDLE = Idle()


@dataclass(frozen=True)
class MediaReady:
    """The media an answer made, stored and servable at /image/<name> (runs whose plan requires media)."""

    media: tuple[GeneratedMedia, ...]


@dataclass(frozen=True)
class Finished:
    finish_reason: str  # "stop" | "content_filter" | "tool_calls"


@dataclass(frozen=True)
class Failed:
    """The run gave up: HTTP status and envelope fields for the client."""

    status: int
    message: str
    type: str = "server_error"
    code: str | None = None
    retry_after: int | None = None


RunEvent = Opened | Delta | Idle | ToolCall | MediaReady | Finished | Failed
