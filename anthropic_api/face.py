"""Turn a run into Anthropic's HTTP answer: one message object, or its stream of events."""
from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

from django.http import StreamingHttpResponse
from rest_framework.response import Response

from anthropic_api import shapes
from anthropic_api.request import MessagesRequest
from anthropic_api.stops import StopSequenceCutter
from completions.tool_types import ToolCall
from gempool_site.exceptions import anthropic_error_body
from openai_api.chat import ChatPlan, ChatRun
from openai_api.conversation import estimate_tokens, tokens_for_chars
from openai_api.responses import AfterSendResponse, RunFailed, event_stream_response, run_opened
from openai_api.run_events import Delta, Failed, Finished, Idle, RunEvent

STOP_REASONS = {"stop": "end_turn", "tool_calls": "tool_use", "content_filter": "refusal"}


def input_tokens(plan: ChatPlan) -> int:
    """The estimate message_start and usage report (the upstream counts nothing): text plus a flat
    258 tokens per attached file, as chat completions estimate it."""
    return estimate_tokens(plan.query) + 258 * len(plan.stored_files)


@dataclass
class _Answer:
    """Run events -> builder events: thoughts only when thinking is on, text cut at a stop sequence."""

    builder: shapes.MessageBuilder
    thinking: bool
    cutter: StopSequenceCutter
    done: bool = False  # a stop sequence matched: nothing more goes out
    message: dict | None = None

    def on(self, event: RunEvent) -> list[shapes.Event]:
        if isinstance(event, Delta) and event.kind == "reasoning":
            return self.builder.text("thinking", event.text) if self.thinking else []
        if isinstance(event, Delta):
            events = self.builder.text("text", self.cutter.feed(event.text))
            if self.cutter.matched is not None:
                events += self._finish("stop_sequence", self.cutter.matched)
            return events
        if isinstance(event, ToolCall):
            return self.builder.tool_use(event)
        if isinstance(event, Finished):
            events = self.builder.text("text", self.cutter.finish())
            return events + self._finish(STOP_REASONS.get(event.finish_reason, "end_turn"), None)
        return []

    def _finish(self, stop_reason: str, stop_sequence: str | None) -> list[shapes.Event]:
        self.done = True
        output = tokens_for_chars(self.builder.output_chars)
        self.message, events = self.builder.finish(stop_reason=stop_reason, stop_sequence=stop_sequence,
                                                   output_tokens=output)
        return events


def _answer(plan: ChatPlan, request: MessagesRequest, message_id: str) -> _Answer:
    builder = shapes.MessageBuilder(message_id=message_id, model=request.model, input_tokens=input_tokens(plan))
    return _Answer(builder=builder, thinking=request.thinking, cutter=StopSequenceCutter(request.stop_sequences))


def complete(plan: ChatPlan, request: MessagesRequest, *, message_id: str) -> Response:
    """Run to the end and answer the message object; raises RunFailed with the right status."""
    run = ChatRun(plan, buffered=True)
    events = run.events()
    try:
        body = _collect(run, _answer(plan, request, message_id), events)
    except BaseException:
        events.close()
        raise
    return AfterSendResponse(body, after_send=events.close)


def _collect(run: ChatRun, answer: _Answer, events: Generator[RunEvent, None, None]) -> dict:
    for event in events:
        if isinstance(event, Failed):
            raise RunFailed(event)
        answer.on(event)
        if answer.done:
            if not isinstance(event, Finished):
                run.end_early()  # a stop sequence matched: the rest of the answer is not wanted
            return answer.message
    raise AssertionError("a run always ends with Finished or Failed")


def stream(plan: ChatPlan, request: MessagesRequest, *, message_id: str) -> StreamingHttpResponse:
    """Open the upstream (failing over silently, errors as HTTP statuses), then stream the events."""
    run, events = run_opened(plan)
    return event_stream_response(_stream_events(run, events, _answer(plan, request, message_id)))


def _stream_events(run: ChatRun, events: Generator[RunEvent, None, None], answer: _Answer) -> Iterator[bytes]:
    """SSE bytes for each run event. A matched stop sequence ends the message at once and closes the run
    (recorded as answered); a client that leaves closes the run and the upstream."""
    out = [shapes.encode(event) for event in answer.builder.start()] + [shapes.PING]
    try:
        for event in events:
            if isinstance(event, Idle):
                out.append(shapes.PING)  # a long silence (thinking, media): keep proxies from cutting us
            elif isinstance(event, Failed):
                out.append(shapes.encode(anthropic_error_body(event.status, event.message)))
            else:
                out += [shapes.encode(e) for e in answer.on(event)]
                if isinstance(event, Delta) and not answer.done and run.output_ready():
                    continue  # the next delta came in the same read: one write for both
            if out:
                yield b"".join(out)
                out = []
            if answer.done and not isinstance(event, Finished):
                run.end_early()
                return
    finally:
        events.close()
