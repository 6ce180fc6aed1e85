"""Turn a ChatRun into the HTTP answer: an SSE stream or one chat.completion."""
from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

from django.http import StreamingHttpResponse
from rest_framework.response import Response

from completions.tool_types import ToolCall
from gempool_site.exceptions import GempoolError
from openai_api import sse
from openai_api.chat import ChatPlan, ChatRun
from openai_api.run_events import Delta, Failed, Finished, Idle, RunEvent


class RunFailed(GempoolError):
    """A run's Failed outcome raised as the application error DRF renders."""

    def __init__(self, failed: Failed) -> None:
        headers = {"Retry-After": str(failed.retry_after)} if failed.retry_after else None
        super().__init__(failed.message, code=failed.code, headers=headers)
        self.status = failed.status
        self.type = failed.type


def _usage(plan: ChatPlan, run: ChatRun) -> dict:
    prompt, completion, reasoning = run.tokens_estimate()
    return sse.usage_block(prompt_tokens=prompt, completion_tokens=completion, reasoning_tokens=reasoning)


class AfterSendResponse(Response):
    """A DRF Response that runs `after_send` once the server has sent it (WSGI close()), before Django's
    end-of-request cleanup: the client has its answer while the bookkeeping is still being written."""

    def __init__(self, data: dict, *, after_send: Callable[[], None]) -> None:
        super().__init__(data)
        self._after_send = after_send

    def close(self) -> None:
        try:
            self._after_send()
        finally:
            super().close()


def complete(plan: ChatPlan, *, completion_id: str, created: int) -> Response:
    """Run to the end and return the chat.completion response; raises RunFailed with the right status."""
    run = ChatRun(plan, buffered=True)
    events = run.events()
    try:
        body = _collect(run, events, plan, completion_id=completion_id, created=created)
    except BaseException:
        events.close()
        raise
    return AfterSendResponse(body, after_send=events.close)


def _collect(run: ChatRun, events: Generator[RunEvent, None, None], plan: ChatPlan, *, completion_id: str,
             created: int) -> dict:
    content: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for event in events:
        if isinstance(event, Failed):
            raise RunFailed(event)
        if isinstance(event, Finished):
            return sse.completion(completion_id=completion_id, created=created, model=plan.model.id,
                                  content="".join(content), reasoning="".join(reasoning),
                                  finish_reason=event.finish_reason, usage=_usage(plan, run), tool_calls=calls)
        if isinstance(event, Delta):
            (content if event.kind == "content" else reasoning).append(event.text)
        elif isinstance(event, ToolCall):
            calls.append(event)
    raise AssertionError("a run always ends with Finished or Failed")


def run_opened(plan: ChatPlan) -> tuple[ChatRun, Generator[RunEvent, None, None]]:
    """A streamed run whose upstream answer has opened (failing over silently), and its remaining events;
    raises RunFailed, answered as an HTTP status, when no account opened one. Every API face streams so."""
    run = ChatRun(plan, buffered=False)
    events = run.events()
    first = next(events)  # Opened, or the outcome of a run that never opened
    if isinstance(first, Failed):
        events.close()
        raise RunFailed(first)
    return run, events


def event_stream_response(body: Iterator[bytes]) -> StreamingHttpResponse:
    """The SSE response every API face streams its events in."""
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold events back
    return response


def stream(plan: ChatPlan, *, completion_id: str, created: int) -> StreamingHttpResponse:
    """Open the upstream (failing over silently), then stream chunks as they arrive."""
    run, events = run_opened(plan)
    chunks = sse.ChunkFactory(completion_id=completion_id, created=created, model=plan.model.id,
                              include_usage=plan.include_usage)
    return event_stream_response(_chunks(run, events, plan, chunks))


def _chunks(run: ChatRun, events: Generator[RunEvent, None, None], plan: ChatPlan,
            chunks: sse.ChunkFactory) -> Iterator[bytes]:
    """SSE bytes for each event. After the outcome's bytes the server asks for more once, which runs the
    run's bookkeeping before the body's terminating chunk: whoever read the body to its end sees it recorded.
    Closed early (the client left), it closes the run, and so the upstream, at once."""
    out: list[bytes] = [chunks.role()]
    try:
        for event in events:
            if isinstance(event, Delta):
                out.append(chunks.content(event.text) if event.kind == "content" else chunks.reasoning(event.text))
                if run.output_ready():
                    continue  # the next delta came in the same read: one write for both (under load they pile up)
            elif isinstance(event, Idle):
                out.append(sse.KEEPALIVE)  # a long silence (thinking, media): keep proxies from cutting us
            elif isinstance(event, ToolCall):
                out.append(chunks.tool_call(event))
            elif isinstance(event, Finished):
                out += [chunks.finish(event.finish_reason), *([chunks.usage(_usage(plan, run))]
                                                              if plan.include_usage else []), sse.DONE]
            elif isinstance(event, Failed):
                out += [sse.error_event(event.message, type=event.type, code=event.code), sse.DONE]
            if out:
                yield b"".join(out)
                out = []
    finally:
        events.close()
