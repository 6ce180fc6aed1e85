"""A simulated model that follows a gateway's tool-calling instructions (and, on request, breaks them).

The upstream has no function calling of its own: a gateway describes the tools in the query and names a
marker to write before the calls. This model reads that marker from the query (`write the marker X on its
own line`, as the instructions and the gateway's follow-up question say) and, for each
`[[sim:call=NAME:JSON]]` directive, answers with the marker and a JSON array of calls. Directives are acted
on only when they come after the last `<tool_result` in the query: once the results are back, the model
answers in prose, so a client's tool loop ends.

Broken variants, for the gateway's parser: `[[sim:call_prose]]` (prose instead of a call), `call_fenced`
(the array inside a markdown fence), `call_truncated` (the JSON cut off), `call_unknown` (a tool name that
was never declared), `call_commentary` (text after the array), `call_in_thought` (the call written in a
thought, the answer in prose). A broken answer leaves its calls pending in the session, and the next turn
in that session that repeats the instructions (the gateway asking again) gets them right, unless
`call_stubborn` keeps the model broken.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

CALL_DIRECTIVE = re.compile(r"\[\[sim:call=([A-Za-z0-9_.\-]+):")
VARIANTS = ("prose", "fenced", "truncated", "unknown", "commentary", "in_thought", "stubborn")
VARIANT_DIRECTIVE = re.compile(r"\[\[sim:call_(" + "|".join(VARIANTS) + r")\]\]")
MARKER = re.compile(r"marker (\S+) on its own line")
INSTRUCTIONS = re.compile(r"<tool_use>.*?</tool_use>", re.DOTALL)
RESULT_TAG = "<tool_result"
UNKNOWN_NAME = "undeclared_tool"
_DECODER = json.JSONDecoder()


@dataclass
class ToolPlan:
    """What the simulated model does with tools this turn."""

    marker: str | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    variants: set[str] = field(default_factory=set)
    from_pending: bool = False


def read_tool_plan(text: str, pending: ToolPlan | None) -> tuple[ToolPlan, str]:
    """The turn's tool plan and the query with call directives removed (what the model 'read')."""
    calls, spans = _call_directives(text)
    last_result = text.rfind(RESULT_TAG)
    marker = MARKER.search(text)
    plan = ToolPlan(marker=marker.group(1) if marker else None,
                    calls=[call for call, (start, _) in zip(calls, spans, strict=True) if start > last_result],
                    variants={v for v in VARIANT_DIRECTIVE.findall(text)})
    if not plan.calls and pending is not None and plan.marker:
        plan.calls, plan.from_pending = list(pending.calls), True
        if "stubborn" in pending.variants:
            plan.variants |= pending.variants
    for start, end in reversed(spans):
        text = text[:start] + text[end:]
    return plan, VARIANT_DIRECTIVE.sub("", text)


def visible_query(text: str, marker: str | None) -> str:
    """The query as the model would echo it: without the tool instructions and without the marker."""
    text = INSTRUCTIONS.sub("", text)
    return text.replace(marker, "[marker]") if marker else text


def answer_with_calls(plan: ToolPlan) -> tuple[str, str, bool]:
    """(answer text, thought text, calls left pending) for a turn that has calls to make."""
    broken = not plan.from_pending or "stubborn" in plan.variants
    variant = next((v for v in VARIANTS[:-1] if v in plan.variants), None) if broken else None
    calls = [{"name": UNKNOWN_NAME if variant == "unknown" else name, "arguments": arguments}
             for name, arguments in plan.calls]
    array = json.dumps(calls, ensure_ascii=False)
    names = ", ".join(name for name, _ in plan.calls)
    if plan.marker is None or variant == "prose":
        return f"I would call {names} now, but I will describe it instead: {array}", "", variant is not None
    if variant == "in_thought":
        return f"I thought about calling {names}.", f"{plan.marker}\n{array}", True
    if variant == "fenced":
        return f"{plan.marker}\n```json\n{array}\n```", "", False
    if variant == "truncated":
        return f"{plan.marker}\n{array[:len(array) // 2]}", "", True
    if variant == "commentary":
        return f"{plan.marker}\n{array}\nI will wait for the results.", "", False
    return f"{plan.marker}\n{array}", "", variant == "unknown"


def _call_directives(text: str) -> tuple[list[tuple[str, Any]], list[tuple[int, int]]]:
    calls, spans = [], []
    for match in CALL_DIRECTIVE.finditer(text):
        try:
            arguments, end = _DECODER.raw_decode(text, match.end())
        except ValueError:
            continue  # not a call directive after all: text the model reads
        if not text.startswith("]]", end):
            continue
        calls.append((match.group(1), arguments))
        spans.append((match.start(), end + 2))
    return calls, spans
