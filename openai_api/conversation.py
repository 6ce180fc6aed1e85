"""Render a whole OpenAI conversation into the one text query the upstream accepts.

The upstream keeps context only inside its own session, and gempool opens a fresh session for every
request (so no two clients ever share one). The full transcript therefore travels in each query:
system instructions first, then every turn labelled with its speaker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from completions.tool_emulation import ToolCall, ToolEmulation, ToolResult, render_tool_calls, render_tool_result

AttachmentKind = Literal["data_uri", "url", "file_id"]
SPEAKERS = {"user": "User", "assistant": "Assistant", "tool": "Tool result", "function": "Tool result"}


@dataclass(frozen=True)
class Attachment:
    """An image or file referenced by a message, before it is resolved to a stored file."""

    kind: AttachmentKind
    value: str
    filename: str | None = None
    param: str = ""  # where it came from in the request, for error messages


@dataclass
class Message:
    """One validated chat message."""

    role: str
    text: str
    attachments: list[Attachment] = field(default_factory=list)
    name: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)  # an assistant's calls
    tool_call_id: str | None = None  # the call a tool message answers
    tool_error: bool = False  # the tool reported a failure (faces that carry the flag set it)


def render_query(messages: list[Message], attachment_names: list[list[str]] | None = None,
                 tools: ToolEmulation | None = None) -> str:
    """The upstream query text. `attachment_names[i]` lists the files message i carried, to mark them inline;
    `tools` (when calls may be made) adds the tool instructions and a closing reminder."""
    names = attachment_names or [[] for _ in messages]
    system = [m.text.strip() for m in messages if m.role in ("system", "developer") and m.text.strip()]
    turns = [(m, n) for m, n in zip(messages, names, strict=True) if m.role not in ("system", "developer")]
    if not system and tools is None and len(turns) == 1 and turns[0][0].role == "user":
        return _with_markers(turns[0][0].text, turns[0][1])  # a plain prompt goes as the user wrote it
    blocks = []
    if system:
        blocks.append("<system>\n" + "\n\n".join(system) + "\n</system>")
    if tools is not None:
        blocks.append(tools.instructions())
    called = {call.id: call.name for message in messages for call in message.tool_calls}
    blocks += [_render_turn(message, attached, called) for message, attached in turns]
    if turns and turns[-1][0].role != "assistant":
        if tools is not None:
            blocks.append(tools.reminder())
        blocks.append("Assistant:")
    return "\n\n".join(blocks)


def _render_turn(message: Message, attached: list[str], called: dict[str, str]) -> str:
    if message.role in ("tool", "function"):
        call_id = message.tool_call_id or ""
        result = ToolResult(call_id=call_id, content=_with_markers(message.text, attached),
                            name=message.name or called.get(call_id), is_error=message.tool_error)
        return f"{SPEAKERS[message.role]}:\n{render_tool_result(result)}"
    text = _with_markers(message.text, attached)
    if message.tool_calls:
        text = "\n".join(filter(None, [text, render_tool_calls(message.tool_calls)]))
    return f"{SPEAKERS.get(message.role, 'User')}: {text}"


def _with_markers(text: str, attached: list[str]) -> str:
    if not attached:
        return text
    markers = " ".join(f"[attached file: {name}]" for name in attached)
    return f"{text}\n{markers}" if text else markers


def last_user_text(messages: list[Message]) -> str:
    """The text of the conversation's last user message ("" when there is none): what the request log may keep."""
    return next((message.text for message in reversed(messages) if message.role == "user"), "")


def tokens_for_chars(chars: int) -> int:
    """A rough token count (about 4 characters per token); the upstream reports none."""
    return (chars + 3) // 4


def estimate_tokens(text: str) -> int:
    """tokens_for_chars of a text."""
    return tokens_for_chars(len(text))
