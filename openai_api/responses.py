"""Turn a ChatRun into the HTTP answer: an SSE stream or one chat.completion."""
from __future__ import annotations

import queue
import time
from collections.abc import Iterator

from django.conf import settings
from django.http import StreamingHttpResponse

from gempool_site.db import release_connections
from gempool_site.exceptions import GempoolError
from openai_api import sse
from openai_api.chat import ChatPlan, ChatRun
from openai_api.conversation import estimate_tokens, tokens_for_chars
from openai_api.run_events import Delta, Failed, Finished

FIRST_EVENT_GRACE = 5.0  # seconds past the failover deadline before we stop waiting on a stuck run


class RunFailed(GempoolError):
    """A run's Failed outcome raised as the application error DRF renders."""

    def __init__(self, failed: Failed) -> None:
        headers = {"Retry-After": str(failed.retry_after)} if failed.retry_after else None
        super().__init__(failed.message, code=failed.code, headers=headers)
        self.status = failed.status
        self.type = failed.type


class DeadlineExceeded(GempoolError):
    status = 504
    type = "server_error"
    code = "upstream_timeout"


def _usage(plan: ChatPlan, run: ChatRun) -> dict:
    reasoning = tokens_for_chars(run.usage_chars["reasoning"])
    content = tokens_for_chars(run.usage_chars["content"])
    return sse.usage_block(prompt_tokens=estimate_tokens(plan.query) + 258 * len(plan.stored_files),
                           completion_tokens=content + reasoning, reasoning_tokens=reasoning)


def _first_event(run: ChatRun) -> object:
    deadline = run.started + settings.GEMPOOL_FAILOVER_DEADLINE + FIRST_EVENT_GRACE
    try:
        return run.events.get(timeout=max(0.1, deadline - time.monotonic()))
    except queue.Empty:
        run.abort()
        raise DeadlineExceeded(f"No account answered within {settings.GEMPOOL_FAILOVER_DEADLINE:.0f} s.") from None


def complete(plan: ChatPlan, *, completion_id: str, created: int) -> dict:
    """Run to the end and return a chat.completion; raises RunFailed with the right status."""
    run = ChatRun(plan, buffered=True).run_here()
    content: list[str] = []
    reasoning: list[str] = []
    event = _first_event(run)
    while True:
        if isinstance(event, Failed):
            raise RunFailed(event)
        if isinstance(event, Finished):
            return sse.completion(completion_id=completion_id, created=created, model=plan.model.id,
                                  content="".join(content), reasoning="".join(reasoning),
                                  finish_reason=event.finish_reason, usage=_usage(plan, run))
        if isinstance(event, Delta):
            (content if event.kind == "content" else reasoning).append(event.text)
        event = run.events.get()


def stream(plan: ChatPlan, *, completion_id: str, created: int) -> StreamingHttpResponse:
    """Open the upstream (failing over silently), then stream chunks as they arrive."""
    # Before start(): starting a thread waits for it to run, and under gevent that wait lets hundreds of
    # other requests run first; a connection held through it would be one nobody else can use.
    release_connections()
    run = ChatRun(plan, buffered=False).start()
    first = _first_event(run)
    if isinstance(first, Failed):
        raise RunFailed(first)
    chunks = sse.ChunkFactory(completion_id=completion_id, created=created, model=plan.model.id)
    response = StreamingHttpResponse(_events(run, plan, chunks, first), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise hold chunks back
    return response


def _events(run: ChatRun, plan: ChatPlan, chunks: sse.ChunkFactory, first: object) -> Iterator[bytes]:
    finished = False
    keepalive = settings.GEMPOOL_KEEPALIVE_SECONDS
    try:
        yield chunks.role()
        batch = [first]
        while True:
            out: list[bytes] = []
            for event in batch:
                if isinstance(event, Delta):
                    out.append(chunks.content(event.text) if event.kind == "content" else chunks.reasoning(event.text))
                elif isinstance(event, Finished):
                    finished = True
                    out.append(chunks.finish(event.finish_reason))
                    if plan.include_usage:
                        out.append(chunks.usage(_usage(plan, run)))
                    out.append(sse.DONE)
                    break
                elif isinstance(event, Failed):
                    finished = True
                    out += [sse.error_event(event.message, type=event.type, code=event.code), sse.DONE]
                    break
            if out:
                yield b"".join(out)
            if finished:
                return
            batch = _next_events(run, keepalive)
            if not batch:
                yield sse.KEEPALIVE  # a long silence (thinking, media): keep proxies from cutting us
    finally:
        if not finished:
            run.abort()  # the client left: stop reading the upstream now


MAX_BATCH = 64


def _next_events(run: ChatRun, timeout: float) -> list:
    """The run's next event and any others already waiting (one write for all: under load they pile up),
    or [] after `timeout` seconds of silence."""
    try:
        events = [run.events.get(timeout=timeout)]
    except queue.Empty:
        return []
    while len(events) < MAX_BATCH:
        try:
            events.append(run.events.get_nowait())
        except queue.Empty:
            break
    return events
