"""OpenAPI descriptions of the Anthropic face (bodies are Anthropic's; see its Messages API reference)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema


class AnthropicKeyScheme(OpenApiAuthenticationExtension):
    target_class = "anthropic_api.auth.AnthropicKeyAuthentication"
    name = "anthropicKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "x-api-key",
                "description": "A gempool API key, as Anthropic's clients send it (Authorization: Bearer works too)."}


ERROR = OpenApiResponse(OpenApiTypes.OBJECT, description='{"type": "error", "error": {"type", "message"}}')
ERRORS = {status: ERROR for status in (400, 401, 403, 404, 413, 429, 500, 502, 503, 504)}
HEADERS = [
    OpenApiParameter("x-api-key", str, OpenApiParameter.HEADER, required=False,
                     description="A gempool API key (or send it as Authorization: Bearer)."),
    OpenApiParameter("anthropic-version", str, OpenApiParameter.HEADER, required=False,
                     description="Accepted (e.g. 2023-06-01); the answer does not depend on it."),
    OpenApiParameter("anthropic-beta", str, OpenApiParameter.HEADER, required=False, description="Accepted."),
]
EXAMPLE = OpenApiExample("A question", value={
    "model": "gemini-2.5-flash", "max_tokens": 1024, "system": "Be brief.",
    "messages": [{"role": "user", "content": "Hello"}]}, request_only=True)

create_message_schema = extend_schema(
    summary="Create a message (Anthropic Messages API; stream=true answers text/event-stream with "
            "message_start ... message_stop events)",
    request=OpenApiTypes.OBJECT, parameters=HEADERS, examples=[EXAMPLE],
    responses={200: OpenApiTypes.OBJECT, **ERRORS},
)

count_tokens_schema = extend_schema(
    summary="Estimate the input tokens of a Messages request",
    request=OpenApiTypes.OBJECT, parameters=HEADERS, examples=[EXAMPLE],
    responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description='{"input_tokens": N}'), **ERRORS},
)
