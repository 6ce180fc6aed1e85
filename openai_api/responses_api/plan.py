"""Plan a Responses API request: the conversation (continued from a stored response), the run engine's plan."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.key_limits import key_admit, key_check_model
from accounts.models import ApiKey
from accounts.upstream import pool_settings_get
from metering.records import prompt_excerpt
from openai_api import services
from openai_api.attachments import resolve_attachments
from openai_api.chat import ChatPlan, new_request_id
from openai_api.conversation import last_user_text, render_query
from openai_api.responses_api import shapes
from openai_api.responses_api.items import fail, to_messages
from openai_api.responses_api.store import stored_response_context


@dataclass(frozen=True)
class ResponsePlan:
    run: ChatPlan
    header: shapes.ResponseHeader
    context: list[dict[str, Any]]  # the conversation so far (previous context + this input), stored with the output
    store: bool


def response_plan_build(*, data: dict, api_key: ApiKey, request_base_url: Callable[[], str]) -> ResponsePlan:
    """Resolve the model, the previous response and the attachments, and render the query: no upstream call."""
    model = services.model_resolve(model_id=data["model"])
    key_check_model(api_key, model_id=model.id)
    previous = data.get("previous_response_id")
    carried = stored_response_context(response_id=previous, api_key=api_key) if previous else []
    context = carried + data["items"]
    messages = to_messages(context, instructions=data.get("instructions"), carried=len(carried))
    if not any(m.text.strip() or m.attachments for m in messages if m.role != "system"):
        fail("input", "The input holds no text and no attachments.")
    attachments = resolve_attachments(messages, owner=api_key)
    pool = pool_settings_get()
    request_id = new_request_id()
    tools = data["tool_request"].emulation()
    run = ChatPlan(request_id=request_id, model=model,
                   query=render_query(messages, attachments.names_per_message, tools),
                   stored_files=attachments.stored_files, stream=data["stream"], include_usage=True,
                   request_base_url=request_base_url, api_key=api_key,
                   pool=pool, tool_emulation=tools, endpoint="responses",
                   prompt_excerpt=prompt_excerpt(last_user_text(messages)),
                   admission=key_admit(api_key=api_key))  # last: nothing after it may strand a concurrency slot
    header = shapes.ResponseHeader(response_id=f"resp_{request_id}", created_at=int(time.time()), model=model.id,
                                   request=shapes.echoed_request(data))
    return ResponsePlan(run=run, header=header, context=context, store=data["store"])
