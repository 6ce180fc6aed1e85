"""Find emulated tool calls in an answer's text, whole or as it streams.

A call block is the request's marker followed by JSON: an array of calls, or call objects one after
another, optionally inside a markdown fence; commentary after the JSON is dropped. When the marker occurs
more than once, the last occurrence holds the calls (a model may mention the marker before using it), and
earlier blocks that hold nothing but calls join them (a model may write the marker before each call).
The JSON is scanned brace by brace, respecting strings and escapes, so long escaped file contents inside
arguments are read whole; a block past MAX_BLOCK_CHARS is refused rather than buffered without end.
"""
from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from completions.tool_arguments import arguments_problem
from completions.tool_types import CallRejected, ParsedAnswer, ToolCall, ToolDefinition, new_call_id

MAX_BLOCK_CHARS = 512 * 1024
ARGUMENT_KEYS = ("arguments", "parameters", "input", "args")
FENCE = "```"


class StreamingToolParser:
    """Feed an answer's text piece by piece; get back the prose that is safe to send now.

    Text is held back only while it may be the start of the marker (a few characters at most), so plain
    answers pass through at once. From the marker on nothing more is sent: the calls are read at
    `finish()`, once the answer is complete. With `hold_prose` every piece is kept until `finish()`.
    """

    def __init__(self, trigger: str, tools: Mapping[str, ToolDefinition], *, allowed: Collection[str],
                 parallel: bool = True, hold_prose: bool = False) -> None:
        self.trigger = trigger
        self.tools = tools
        self.allowed = allowed
        self.parallel = parallel
        self.hold_prose = hold_prose
        self._text: list[str] = []
        self._length = 0
        self._sent = 0  # characters of the answer already returned as prose
        self._tail = ""  # the end of the text seen so far that may be the start of the marker
        self._marker_at = -1  # where the first marker starts, once seen
        self._overflow = False

    def feed(self, text: str) -> str:
        """Take the next piece of the answer; return the prose that can go to the client now ("" if none)."""
        if self._overflow or not text:
            return ""
        self._text.append(text)
        self._length += len(text)
        if self._marker_at >= 0:
            if self._length - self._marker_at > MAX_BLOCK_CHARS:
                self._overflow = True
                self._text = ["".join(self._text)[:self._marker_at]]  # the block is refused: free it
            return ""
        pending = self._tail + text
        at = pending.find(self.trigger)
        if at >= 0:
            self._marker_at = self._length - len(pending) + at
            self._tail = ""
            return "" if self.hold_prose else self._release(self._marker_at)
        if self.hold_prose:
            self._tail = pending[-(len(self.trigger) - 1):]
            return ""
        keep = _prefix_overlap(pending, self.trigger)
        self._tail = pending[len(pending) - keep:] if keep else ""
        return self._release(self._length - keep)

    def finish(self) -> ParsedAnswer:
        """The answer is complete: the prose not yet returned, the calls, and the calls refused."""
        joined = "".join(self._text)
        if self._overflow:
            return ParsedAnswer(text=joined[self._sent:self._marker_at], rejected=(CallRejected(
                f"the call block was longer than {MAX_BLOCK_CHARS} characters"),), attempted=True)
        unsent = joined[self._sent:]
        if self._marker_at < 0:
            return ParsedAnswer(text=unsent)
        prose, blocks = self._split_blocks(unsent)
        calls, rejected = self._calls_from(blocks)
        return ParsedAnswer(text=prose, calls=tuple(calls), rejected=tuple(rejected), attempted=True)

    # ---- internals --------------------------------------------------------------------------------

    def _release(self, upto: int) -> str:
        """The text from what was sent so far up to `upto` (an offset in the whole answer)."""
        count = upto - self._sent
        if count <= 0:
            return ""
        self._sent = upto
        unsent_after = self._length - upto
        last = self._text[-1]
        if count + unsent_after <= len(last):  # the common case: all of it is in the piece just fed
            return last[len(last) - unsent_after - count:len(last) - unsent_after]
        joined = "".join(self._text)
        self._text = [joined]
        return joined[upto - count:upto]

    def _split_blocks(self, text: str) -> tuple[str, list[str]]:
        """Prose before the calls, and the blocks that hold them (last marker first, then earlier ones that
        hold nothing but calls)."""
        pieces = text.split(self.trigger)
        blocks = [pieces[-1]]
        index = len(pieces) - 2
        while index >= 1 and _only_json(pieces[index]):
            blocks.insert(0, pieces[index])
            index -= 1
        # A mention of the marker becomes a space, never "": removing it could join its neighbours into one.
        return " ".join(pieces[:index + 1]), blocks

    def _calls_from(self, blocks: list[str]) -> tuple[list[ToolCall], list[CallRejected]]:
        calls: list[ToolCall] = []
        rejected: list[CallRejected] = []
        for block in blocks:
            items, problem = read_call_items(block)
            if problem:
                rejected.append(CallRejected(problem))
            for item in items:
                name, arguments, reason = self._checked(item)
                if reason is None and calls and not self.parallel:
                    reason = "only one call per answer is allowed (parallel_tool_calls is false)"
                if reason is not None:
                    rejected.append(CallRejected(reason, name))
                    continue
                calls.append(ToolCall(id=new_call_id(), name=name, index=len(calls),
                                      arguments=json.dumps(arguments, ensure_ascii=False)))
        return calls, rejected

    def _checked(self, item: Any) -> tuple[str | None, dict[str, Any], str | None]:
        name, arguments, reason = call_fields(item)
        if reason is not None:
            return name, {}, reason
        if name not in self.tools:
            return name, {}, f"there is no tool named {name!r}"
        if name not in self.allowed:
            return name, {}, f"the tool {name!r} may not be called now (tool_choice names another tool)"
        problem = arguments_problem(arguments, self.tools[name].parameters)
        if problem is not None:
            return name, {}, f"the arguments for {name} do not match its schema: {problem}"
        return name, arguments, None


def call_fields(item: Any) -> tuple[str | None, dict[str, Any], str | None]:
    """(name, arguments, reason refused) from one call object in any of the shapes models write."""
    if not isinstance(item, dict):
        return None, {}, "a call must be a JSON object with name and arguments"
    if isinstance(item.get("function"), dict):  # OpenAI's own shape, copied from training data
        item = item["function"]
    name = item.get("name", item.get("tool"))
    if not isinstance(name, str) or not name:
        return None, {}, "a call has no tool name"
    arguments = next((item[key] for key in ARGUMENT_KEYS if key in item), {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return name, {}, f"the arguments for {name} are not valid JSON"
    if not isinstance(arguments, dict):
        return name, {}, f"the arguments for {name} must be a JSON object"
    return name, arguments, None


def read_call_items(block: str) -> tuple[list[Any], str | None]:
    """The call objects in the text after one marker, and what went wrong reading them (None if nothing)."""
    items: list[Any] = []
    position = 0
    while True:
        position = _skip_separators(block, position)
        if position >= len(block) or block[position] not in "[{":
            break  # the end, or commentary after the calls
        end = json_value_end(block, position)
        if end < 0:
            return items, "the call was cut off before its JSON was complete"
        try:
            value = json.loads(block[position:end])
        except ValueError:
            return items, "the call is not valid JSON"
        if isinstance(value, dict) and isinstance(value.get("tool_calls"), list):
            value = value["tool_calls"]
        items.extend(value if isinstance(value, list) else [value])
        position = end
    if not items:
        return items, "the marker was not followed by a JSON call"
    return items, None


def _skip_separators(text: str, position: int) -> int:
    """Past whitespace, commas and markdown fences (with their language tag)."""
    while position < len(text):
        if text[position] in " \t\r\n,":
            position += 1
        elif text.startswith(FENCE, position):
            newline = text.find("\n", position)
            rest = text[position + 3:newline if newline >= 0 else len(text)].strip()
            if rest and not rest.isalnum():
                return position  # a fence followed by something other than a language tag: commentary
            position = newline + 1 if newline >= 0 else len(text)
        else:
            break
    return position


def json_value_end(text: str, start: int) -> int:
    """Index just past the JSON array/object opening at `start`, or -1 if the text ends first.

    Counts brackets outside strings only, and inside strings skips each escaped character, so braces and
    quotes in string values (code, file contents) never end the value early.
    """
    depth = 0
    in_string = False
    index = start
    length = len(text)
    while index < length:
        char = text[index]
        if in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return -1


def _only_json(block: str) -> bool:
    """Does this text hold calls and nothing else (a block between two markers)?"""
    position = _skip_separators(block, 0)
    values = 0
    while position < len(block) and block[position] in "[{":
        end = json_value_end(block, position)
        if end < 0:
            return False
        values += 1
        position = _skip_separators(block, end)
    return position >= len(block) and values > 0


def _prefix_overlap(text: str, trigger: str) -> int:
    """Length of the longest end of `text` that is a start of `trigger` (what may still become the marker)."""
    first = trigger[0]
    start = max(0, len(text) - len(trigger) + 1)
    at = text.find(first, start)
    while at >= 0:
        if trigger.startswith(text[at:]):
            return len(text) - at
        at = text.find(first, at + 1)
    return 0
