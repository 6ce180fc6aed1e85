"""OpenAPI descriptions drf-spectacular cannot infer: the Bearer API-key schemes and the /v1 bodies.

Extensions register themselves when this module is imported (openai_api.views does), so /api/schema/
tells clients and schemathesis how to authenticate and what /v1/chat/completions accepts.
"""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema

from openai_api.responses_api.serializers import ResponseRequestSerializer
from openai_api.serializers import ChatCompletionRequestSerializer

ERROR_ENVELOPE = OpenApiResponse(OpenApiTypes.OBJECT, description='{"error": {"message", "type", "param", "code"}}')
OPENAI_ERRORS = {status: ERROR_ENVELOPE for status in (400, 401, 404, 413, 429, 500, 502, 503, 504)}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "gempool_site.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key from createapikey or /api/keys."}


class AdminKeyScheme(OpenApiAuthenticationExtension):
    target_class = "gempool_site.auth.AdminTokenAuthentication"
    name = "adminKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API key created with is_admin."}


def openai_json(summary: str):
    """A /v1 endpoint answering an OpenAI-shaped JSON object."""
    return extend_schema(summary=summary, responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS})


chat_completions = extend_schema(
    summary="Create a chat completion (OpenAI-compatible; stream=true answers text/event-stream)",
    request=ChatCompletionRequestSerializer,
    responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS},
)

create_response = extend_schema(
    summary="Create a model response (OpenAI Responses API; stream=true answers text/event-stream with "
            "response.* events)",
    request=ResponseRequestSerializer,
    responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS},
)
