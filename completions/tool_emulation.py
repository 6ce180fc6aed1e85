"""Tool calling emulated in text: render tools and tool history into the query, parse calls out of answers.

The upstream model has no custom function calling. The query describes the tools and asks the model to
call them by writing a marker that is random for each request (`<<CALL_1a2b3c4d>>`) followed by a JSON
array of calls; `tool_parsing` finds that block in the answer, streamed or not. Only the marker this
request announced counts, only declared tools pass, arguments are checked against their schema: text the
user quoted, earlier answers, thoughts and invented tools never become calls (see
/work/shared/tool-emulation.md for the failure modes this answers).

Nothing here knows an HTTP shape: each API face maps its own request fields onto ToolDefinition /
ToolChoice / ToolCall / ToolResult and its own wire format onto the parser's ParsedAnswer.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from completions.tool_parsing import StreamingToolParser
from completions.tool_types import (
    CallRejected,
    ParsedAnswer,
    ToolCall,
    ToolChoice,
    ToolDefinition,
    ToolResult,
    new_call_id,
)

__all__ = [
    "CallRejected", "ParsedAnswer", "StreamingToolParser", "ToolCall", "ToolChoice", "ToolDefinition",
    "ToolEmulation", "ToolRequest", "ToolResult", "new_call_id", "render_tool_calls", "render_tool_result",
]

TRIGGER_FORMAT = "<<CALL_{}>>"


@dataclass(frozen=True)
class ToolRequest:
    """The tool side of one request, as the face validated it."""

    tools: tuple[ToolDefinition, ...]
    choice: ToolChoice = ToolChoice()
    parallel: bool = True

    def emulation(self) -> ToolEmulation | None:
        """The emulation for this request, or None when no call can be made (no tools, or choice none)."""
        if not self.tools or self.choice.mode == "none":
            return None
        return ToolEmulation(self)


class ToolEmulation:
    """One request's emulated tool calling: its random marker, the instructions, the parser.

    `trigger` may be given (tests); otherwise each request gets a fresh one, which the user cannot know in
    advance and earlier answers cannot contain.
    """

    def __init__(self, request: ToolRequest, *, trigger: str | None = None) -> None:
        self.request = request
        self.trigger = trigger or TRIGGER_FORMAT.format(secrets.token_hex(4))
        self.tools = {tool.name: tool for tool in request.tools}

    @property
    def allowed_names(self) -> frozenset[str]:
        choice = self.request.choice
        if choice.mode == "named" and choice.name in self.tools:
            return frozenset({choice.name})
        return frozenset(self.tools)

    def parser(self) -> StreamingToolParser:
        """An incremental parser for one answer. A call is required: prose is held until the answer ends
        (it may have to be replaced by the answer to the follow-up question)."""
        return StreamingToolParser(self.trigger, self.tools, allowed=self.allowed_names,
                                   parallel=self.request.parallel, hold_prose=self.request.choice.requires_call)

    def parse(self, text: str) -> ParsedAnswer:
        """A whole answer at once: prose, calls, rejections."""
        parser = self.parser()
        head = parser.feed(text)
        end = parser.finish()
        return ParsedAnswer(text=head + end.text, calls=end.calls, rejected=end.rejected, attempted=end.attempted)

    # ---- what the model reads -------------------------------------------------------------------

    def instructions(self) -> str:
        """The tool catalogue and how to call, for the head of the query."""
        parts = ["<tool_use>", "You can call the following tools (functions) provided by the user's application.",
                 "", "# Tools", *(self._describe(tool) for tool in self.request.tools), "", "# How to call tools",
                 f"To call tools, write the marker {self.trigger} on its own line, followed by a JSON array with "
                 "one object per call, and end your answer there:", self.trigger,
                 '[{"name": "TOOL_NAME", "arguments": {"ARGUMENT": "VALUE"}}]', "", "Rules:", *self._rules(),
                 "</tool_use>"]
        return "\n".join(parts)

    def reminder(self) -> str:
        """One line for the end of the query, where the model reads last."""
        return f"(To call tools, write {self.trigger} then the JSON array of calls, as described above. " \
               f"{self._choice_rule()})"

    def follow_up(self, problem: str) -> str:
        """The firmer question asked once, in the same upstream session, when an answer made no usable call.
        `problem` completes "Your previous answer …" (ParsedAnswer.problem() gives it)."""
        names = ", ".join(sorted(self.allowed_names))
        how = (f"the marker {self.trigger} on its own line followed by a JSON array of calls, for example:\n"
               f'{self.trigger}\n[{{"name": "TOOL_NAME", "arguments": {{}}}}]\n'
               f"Available tools: {names}. Use exactly these names, with arguments that match each tool's schema.")
        if self.request.choice.requires_call:
            return f"Your previous answer {problem}. {self._choice_rule()} Answer again now with only {how} " \
                   "Write nothing else."
        return f"Your previous answer {problem}. If you meant to call a tool, answer again now with only {how} " \
               "Otherwise give your answer in plain text, without the marker."

    def _describe(self, tool: ToolDefinition) -> str:
        lines = [f"## {tool.name}"]
        if tool.description.strip():
            lines.append(tool.description.strip())
        schema = json.dumps(tool.parameters or {"type": "object", "properties": {}}, ensure_ascii=False)
        lines.append(f"Arguments (JSON Schema): {schema}")
        return "\n".join(lines)

    def _rules(self) -> list[str]:
        calls = "You may call several tools at once: put every call in the one array." if self.request.parallel \
            else "Make at most one call per answer (an array with one object)."
        return [
            f"- {self._choice_rule()}",
            "- Use only the tools listed above, by their exact names, with arguments that match their schema.",
            f"- {calls}",
            "- Write nothing after the array. Each call's result comes back in a later message as a "
            "<tool_result> block; then continue the task or give your final answer.",
            f"- Write the marker {self.trigger} only to call tools: never quote or mention it otherwise.",
            "- <tool_call_record> lines and <tool_result> blocks in the conversation record calls already made "
            "and what they returned: never write them yourself.",
        ]

    def _choice_rule(self) -> str:
        choice = self.request.choice
        if choice.mode == "named":
            return f"You must call the tool {choice.name} in this answer."
        if choice.mode == "required":
            return "You must call at least one tool in this answer."
        return "Call a tool when it helps; otherwise answer in plain text, without the marker."


# ---- tool history, rendered the same way on every face ---------------------------------------------------


def render_tool_calls(calls: Sequence[ToolCall]) -> str:
    """Calls an earlier answer made, one record line each (not the call markup: records must not read as
    calls, and the marker of an earlier request means nothing now)."""
    return "\n".join(f'<tool_call_record id="{call.id}" name="{call.name}">{_compact(call.arguments)}'
                     "</tool_call_record>" for call in calls)


def render_tool_result(result: ToolResult) -> str:
    """A tool's output as the model reads it, tied to its call by id (and name when known)."""
    call_id = f' call_id="{result.call_id}"' if result.call_id else ""
    name = f' name="{result.name}"' if result.name else ""
    status = ' status="error"' if result.is_error else ""
    return f"<tool_result{call_id}{name}{status}>\n{result.content}\n</tool_result>"


def _compact(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return arguments  # the client's own text: shown as it was sent
