"""Turn a run into the Responses API's HTTP answer: one response object, or its stream of events."""
from __future__ import annotations

import logging
from collections.abc import Generator, Iterator

from django.db import DatabaseError
from django.http import StreamingHttpResponse
from rest_framework.response import Response

from completions.tool_types import ToolCall
from openai_api import sse
from openai_api.chat import ChatRun
from openai_api.conversation import estimate_tokens, tokens_for_chars
from openai_api.responses import AfterSendResponse, RunFailed, event_stream_response, run_opened
from openai_api.responses_api import shapes
from openai_api.responses_api.events import OutputBuilder, encode
from openai_api.responses_api.items import parse_input
from openai_api.responses_api.plan import ResponsePlan
from openai_api.responses_api.store import stored_response_save
from openai_api.run_events import Delta, Failed, Finished, Idle, RunEvent

logger = logging.getLogger(__name__)


def complete(plan: ResponsePlan) -> Response:
    """Run to the end and answer the response object; raises RunFailed with the right status."""
    run = ChatRun(plan.run, buffered=True)
    events = run.events()
    try:
        body = _collect(run, events, plan)
    except BaseException:
        events.close()
        raise
    return AfterSendResponse(body, after_send=events.close)


def _collect(run: ChatRun, events: Generator[RunEvent, None, None], plan: ResponsePlan) -> dict:
    builder = OutputBuilder(plan.header)
    for event in events:
        if isinstance(event, Failed):
            raise RunFailed(event)
        if isinstance(event, Delta):
            builder.text(event.kind, event.text)
        elif isinstance(event, ToolCall):
            builder.function_call(call_id=event.id, name=event.name, arguments=event.arguments)
        elif isinstance(event, Finished):
            body, _ = builder.finish(usage=_usage(plan, run), incomplete_reason=_incomplete(event))
            _store(plan, body)
            return body
    raise AssertionError("a run always ends with Finished or Failed")


def stream(plan: ResponsePlan) -> StreamingHttpResponse:
    """Open the upstream (failing over silently, errors as HTTP statuses), then stream the events."""
    run, events = run_opened(plan.run)
    return event_stream_response(_stream_events(run, events, plan))


def _stream_events(run: ChatRun, events: Generator[RunEvent, None, None], plan: ResponsePlan) -> Iterator[bytes]:
    """SSE bytes for each run event; closed early (the client left), it closes the run and the upstream."""
    builder = OutputBuilder(plan.header)
    out = [encode(event) for event in builder.start()]
    try:
        for event in events:
            if isinstance(event, Delta):
                out += [encode(e) for e in builder.text(event.kind, event.text)]
                if run.output_ready():
                    continue  # the next delta came in the same read: one write for both
            elif isinstance(event, ToolCall):
                out += [encode(e) for e in builder.function_call(call_id=event.id, name=event.name,
                                                                 arguments=event.arguments)]
            elif isinstance(event, Idle):
                out.append(sse.KEEPALIVE)  # a long silence (thinking, media): keep proxies from cutting us
            elif isinstance(event, Finished):
                out += [encode(e) for e in _finish_stored(builder, plan, run, event)]
            elif isinstance(event, Failed):
                out += [encode(e) for e in builder.fail(message=event.message, code=event.code)]
            if out:
                yield b"".join(out)
                out = []
    finally:
        events.close()


def _finish_stored(builder: OutputBuilder, plan: ResponsePlan, run: ChatRun, finished: Finished) -> list[dict]:
    """The ending events, once the response is stored: whoever reads response.completed can continue from it."""
    body, ending = builder.finish(usage=_usage(plan, run), incomplete_reason=_incomplete(finished))
    try:
        _store(plan, body)
    except DatabaseError:
        logger.exception("could not store a response", extra={"request_id": plan.run.request_id})
        return builder.fail(message="The response could not be stored; retry it.", code="storage_error")
    return ending


def _incomplete(finished: Finished) -> str | None:
    return "content_filter" if finished.finish_reason == "content_filter" else None


def _usage(plan: ResponsePlan, run: ChatRun) -> dict:
    reasoning = tokens_for_chars(run.usage_chars["reasoning"])
    output = tokens_for_chars(run.usage_chars["content"]) + reasoning
    return shapes.usage(input_tokens=estimate_tokens(plan.run.query) + 258 * len(plan.run.stored_files),
                        output_tokens=output, reasoning_tokens=reasoning)


def _store(plan: ResponsePlan, body: dict) -> None:
    if not plan.store:
        return
    context = plan.context + parse_input(body["output"])  # canonical items, reasoning left out
    stored_response_save(body=body, context=context, api_key=plan.run.api_key)
