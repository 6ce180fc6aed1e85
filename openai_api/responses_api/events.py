"""Build a response's output item by item, with the streamed events OpenAI's spec sends for each step.

One OutputBuilder serves both kinds of call: a streamed response sends every event it returns, a
non-stream one only keeps the finished output. Event order per item: output_item.added, the part's
.added, deltas, the part's .done, output_item.done; every event carries the next sequence_number.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from openai_api.responses_api import shapes

Event = dict[str, Any]


def encode(event: Event) -> bytes:
    """One SSE event, named by its type as OpenAI sends them."""
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


@dataclass
class _OpenItem:
    kind: str  # "message" | "reasoning"
    item_id: str
    output_index: int
    texts: list[str] = field(default_factory=list)


class OutputBuilder:
    def __init__(self, header: shapes.ResponseHeader) -> None:
        self.header = header
        self.output: list[dict[str, Any]] = []  # finished items, in order
        self._sequence = 0
        self._open: _OpenItem | None = None

    def _event(self, type: str, **fields: Any) -> Event:
        event = {"type": type, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return event

    def start(self) -> list[Event]:
        """response.created and response.in_progress."""
        response = self.header.build(status="in_progress", output=[])
        return [self._event("response.created", response=response),
                self._event("response.in_progress", response=response)]

    def text(self, kind: str, text: str) -> list[Event]:
        """A fragment of the answer ("content") or of the thoughts ("reasoning")."""
        wanted = "message" if kind == "content" else "reasoning"
        events: list[Event] = []
        if self._open is None or self._open.kind != wanted:
            events += self._close()
            events += self._open_item(wanted)
        item = self._open
        item.texts.append(text)
        if wanted == "message":
            events.append(self._event("response.output_text.delta", item_id=item.item_id,
                                      output_index=item.output_index, content_index=0, delta=text, logprobs=[]))
        else:
            events.append(self._event("response.reasoning_summary_text.delta", item_id=item.item_id,
                                      output_index=item.output_index, summary_index=0, delta=text))
        return events

    def function_call(self, *, call_id: str, name: str, arguments: str) -> list[Event]:
        """A whole function call item: added, its arguments, done."""
        events = self._close()
        item_id, index = shapes.new_id("fc"), len(self.output)
        pending = shapes.function_call_item(item_id, call_id=call_id, name=name, arguments="", status="in_progress")
        done = shapes.function_call_item(item_id, call_id=call_id, name=name, arguments=arguments)
        self.output.append(done)
        return events + [
            self._event("response.output_item.added", output_index=index, item=pending),
            self._event("response.function_call_arguments.delta", item_id=item_id, output_index=index,
                        delta=arguments),
            self._event("response.function_call_arguments.done", item_id=item_id, output_index=index,
                        name=name, arguments=arguments),
            self._event("response.output_item.done", output_index=index, item=done),
        ]

    def finish(self, *, usage: dict[str, Any], incomplete_reason: str | None = None) -> tuple[dict, list[Event]]:
        """The final response object and the events that end the stream (response.completed/.incomplete)."""
        events = self._close()
        status = "incomplete" if incomplete_reason else "completed"
        response = self.header.build(status=status, output=list(self.output), usage=usage,
                                     incomplete_reason=incomplete_reason)
        return response, events + [self._event(f"response.{status}", response=response)]

    def fail(self, *, message: str, code: str | None) -> list[Event]:
        """A run that broke after the response was created: an error event, then response.failed."""
        error = {"code": code or "server_error", "message": message}
        response = self.header.build(status="failed", output=list(self.output), error=error)
        return [self._event("error", code=error["code"], message=message, param=None),
                self._event("response.failed", response=response)]

    # ---- one item at a time -------------------------------------------------------------------------

    def _open_item(self, kind: str) -> list[Event]:
        index = len(self.output)
        if kind == "message":
            item = _OpenItem(kind, shapes.new_id("msg"), index)
            self._open = item
            return [self._event("response.output_item.added", output_index=index,
                                item=shapes.message_item(item.item_id, "", status="in_progress")),
                    self._event("response.content_part.added", item_id=item.item_id, output_index=index,
                                content_index=0, part=shapes.output_text_part(""))]
        item = _OpenItem(kind, shapes.new_id("rs"), index)
        self._open = item
        return [self._event("response.output_item.added", output_index=index,
                            item=shapes.reasoning_item(item.item_id, None)),
                self._event("response.reasoning_summary_part.added", item_id=item.item_id, output_index=index,
                            summary_index=0, part=shapes.summary_part(""))]

    def _close(self) -> list[Event]:
        item, self._open = self._open, None
        if item is None:
            return []
        text = "".join(item.texts)
        common = {"item_id": item.item_id, "output_index": item.output_index}
        if item.kind == "message":
            done = shapes.message_item(item.item_id, text)
            events = [self._event("response.output_text.done", **common, content_index=0, text=text, logprobs=[]),
                      self._event("response.content_part.done", **common, content_index=0,
                                  part=shapes.output_text_part(text))]
        else:
            done = shapes.reasoning_item(item.item_id, text)
            events = [self._event("response.reasoning_summary_text.done", **common, summary_index=0, text=text),
                      self._event("response.reasoning_summary_part.done", **common, summary_index=0,
                                  part=shapes.summary_part(text))]
        self.output.append(done)
        return events + [self._event("response.output_item.done", output_index=item.output_index, item=done)]
