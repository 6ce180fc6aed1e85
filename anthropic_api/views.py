"""Anthropic's Messages API: parse, call one service, shape the answer."""
from __future__ import annotations

import logging

from rest_framework.request import Request
from rest_framework.response import Response

from anthropic_api import face
from anthropic_api.auth import AnthropicKeyAuthentication
from anthropic_api.errors import anthropic_exception_handler
from anthropic_api.plan import messages_plan_build, messages_token_count
from anthropic_api.request import parse_messages_request
from anthropic_api.schema import count_tokens_schema, create_message_schema
from anthropic_api.shapes import new_message_id
from gempool_site.v1 import V1View, request_base_url

logger = logging.getLogger(__name__)


class AnthropicView(V1View):
    """`x-api-key` or Bearer API key, the per-key rate limit of every /v1 route, Anthropic's error envelope.
    The `anthropic-version` and `anthropic-beta` headers are accepted; nothing depends on them."""

    authentication_classes = [AnthropicKeyAuthentication]

    def get_exception_handler(self):
        return anthropic_exception_handler


class MessagesView(AnthropicView):
    @create_message_schema
    def post(self, request: Request):
        parsed = parse_messages_request(request.data)
        _log_request(request, parsed)
        plan = messages_plan_build(request=parsed, api_key=request.auth,
                                   request_base_url=request_base_url(request))
        message_id = new_message_id()
        if parsed.stream:
            return face.stream(plan, parsed, message_id=message_id)
        return face.complete(plan, parsed, message_id=message_id)


class CountTokensView(AnthropicView):
    @count_tokens_schema
    def post(self, request: Request) -> Response:
        parsed = parse_messages_request(request.data, count_only=True)
        return Response({"input_tokens": messages_token_count(request=parsed)})


def _log_request(request: Request, parsed) -> None:
    """What a client asks for (never content): which model names, options and betas tools like Claude Code
    send is what an operator needs to set aliases and a default model."""
    logger.info("messages request", extra={
        "model": parsed.model, "stream": parsed.stream, "messages": len(parsed.messages),
        "tools": len(parsed.tool_request.tools) if parsed.tool_request else 0, "thinking": parsed.thinking,
        "stop_sequences": len(parsed.stop_sequences), "anthropic_version": request.headers.get("anthropic-version"),
        "anthropic_beta": request.headers.get("anthropic-beta"), "user_agent": request.headers.get("user-agent")})
