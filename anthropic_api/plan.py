"""Plan a Messages request on the shared run engine: the same planning as chat completions."""
from __future__ import annotations

from collections.abc import Callable

from accounts.models import ApiKey
from anthropic_api.request import MessagesRequest
from openai_api import services
from openai_api.chat import ChatPlan
from openai_api.conversation import estimate_tokens, render_query


def messages_plan_build(*, request: MessagesRequest, api_key: ApiKey, request_base_url: Callable[[], str]) -> ChatPlan:
    """Resolve the model (aliases too) and the attachments and render the query: no upstream call."""
    data = {"model": request.model, "parsed_messages": request.messages, "stream": request.stream,
            "include_usage": True, "tool_request": request.tool_request}
    return services.chat_plan_build(data=data, api_key=api_key, request_base_url=request_base_url,
                                    endpoint="messages")


def messages_token_count(*, request: MessagesRequest) -> int:
    """count_tokens: the query this request would send, estimated as usage is (nothing is fetched or stored:
    each image or document counts a flat 258 tokens)."""
    services.model_resolve(model_id=request.model)
    names = [[f"attachment-{i}" for i, _ in enumerate(m.attachments)] for m in request.messages]
    tools = request.tool_request.emulation() if request.tool_request is not None else None
    query = render_query(request.messages, names, tools)
    return estimate_tokens(query) + 258 * request.attachments
