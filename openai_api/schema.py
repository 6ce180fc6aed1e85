"""OpenAPI descriptions drf-spectacular cannot infer: the Bearer API-key schemes and the /v1 bodies.

Extensions register themselves when this module is imported (openai_api.views does), so /api/schema/
tells clients and schemathesis how to authenticate and what /v1/chat/completions accepts.
"""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field

from openai_api.responses_api.serializers import (
    InputField,
    ObjectField,
    ResponseRequestSerializer,
    ResponseToolChoiceField,
    ResponseToolsField,
)
from openai_api.serializers import MODEL_MAX_LENGTH

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


FUNCTION_CALL = {"type": "object", "required": ["id", "type", "function"], "properties": {
    "id": {"type": "string"}, "type": {"type": "string", "enum": ["function"]},
    "function": {"type": "object", "required": ["name", "arguments"],
                 "properties": {"name": {"type": "string"}, "arguments": {"type": "string"}}}}}
CONTENT_PART = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": ["text", "input_text", "output_text", "image_url", "input_image", "file",
                                        "refusal"]},
    "text": {"type": "string"}, "image_url": {"type": "object", "properties": {"url": {"type": "string"}}},
    "file_id": {"type": "string"}, "file": {"type": "object"}}}
MESSAGE = {"type": "object", "required": ["role"], "properties": {
    "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool", "function"]},
    "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": CONTENT_PART}], "nullable": True},
    "name": {"type": "string"},
    "tool_calls": {"type": "array", "items": FUNCTION_CALL, "description": "Calls an assistant message made."},
    "tool_call_id": {"type": "string", "description": "The call a tool message answers."}}}
FUNCTION_TOOL = {"type": "object", "required": ["type", "function"], "properties": {
    "type": {"type": "string", "enum": ["function"]},
    "function": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "description": {"type": "string"},
        "parameters": {"type": "object", "description": "A JSON Schema for the arguments."},
        "strict": {"type": "boolean"}}}}}
TOOL_CHOICE = {"oneOf": [
    {"type": "string", "enum": ["none", "auto", "required"]},
    {"type": "object", "required": ["type", "function"], "properties": {
        "type": {"type": "string", "enum": ["function"]},
        "function": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}]}

# What openai_api.serializers.parse_chat_request reads; everything else a client sends is ignored.
CHAT_REQUEST = {"type": "object", "required": ["model"], "properties": {
    "model": {"type": "string", "minLength": 1, "maxLength": MODEL_MAX_LENGTH},
    "messages": {"type": "array", "items": MESSAGE, "minItems": 1},
    "prompts": {"type": "array", "items": {"type": "object"},
                "description": "The original tool's format, instead of messages: [{role, text, files}]."},
    "stream": {"type": "boolean", "nullable": True, "default": False},
    "stream_options": {"type": "object", "nullable": True,
                       "properties": {"include_usage": {"type": "boolean", "nullable": True, "default": False}}},
    "tools": {"type": "array", "items": FUNCTION_TOOL,
              "description": "Function tools (emulated: see the README's tools section)."},
    "tool_choice": TOOL_CHOICE,
    "parallel_tool_calls": {"type": "boolean", "nullable": True, "default": True}}}


# The Responses API (/v1/responses): input items, flat function tools, tool_choice.
INPUT_PART = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "enum": ["input_text", "output_text", "input_image", "input_file", "refusal"]},
    "text": {"type": "string"}, "image_url": {"type": "string", "description": "An http(s) or data: URL."},
    "file_id": {"type": "string"}, "file_data": {"type": "string", "description": "A data: URL."},
    "filename": {"type": "string"}}}
INPUT_ITEM = {"type": "object", "properties": {
    "type": {"type": "string", "enum": ["message", "function_call", "function_call_output", "reasoning"]},
    "role": {"type": "string", "enum": ["user", "assistant", "system", "developer"]},
    "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": INPUT_PART}]},
    "call_id": {"type": "string"}, "name": {"type": "string"},
    "arguments": {"type": "string", "description": "The call's arguments as JSON text."},
    "output": {"type": "string", "description": "What the tool returned."}}}
RESPONSE_TOOL = {"type": "object", "required": ["type"], "properties": {
    "type": {"type": "string", "description": "function tools are emulated; other types are accepted and left out."},
    "name": {"type": "string"}, "description": {"type": "string"},
    "parameters": {"type": "object", "description": "A JSON Schema for the arguments."},
    "strict": {"type": "boolean"}}}
RESPONSE_TOOL_CHOICE = {"oneOf": [
    {"type": "string", "enum": ["none", "auto", "required"]},
    {"type": "object", "required": ["type", "name"], "properties": {
        "type": {"type": "string", "enum": ["function"]}, "name": {"type": "string"}}}]}

extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": INPUT_ITEM}]})(InputField)
extend_schema_field({"type": "array", "items": RESPONSE_TOOL})(ResponseToolsField)
extend_schema_field(RESPONSE_TOOL_CHOICE)(ResponseToolChoiceField)
extend_schema_field({"type": "object", "nullable": True})(ObjectField)


def openai_json(summary: str):
    """A /v1 endpoint answering an OpenAI-shaped JSON object."""
    return extend_schema(summary=summary, responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS})


chat_completions = extend_schema(
    summary="Create a chat completion (OpenAI-compatible; stream=true answers text/event-stream)",
    request={"application/json": CHAT_REQUEST},
    responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS},
)

create_response = extend_schema(
    summary="Create a model response (OpenAI Responses API; stream=true answers text/event-stream with "
            "response.* events)",
    request=ResponseRequestSerializer,
    responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS},
)

IMAGE_FIELDS = {
    "prompt": {"type": "string", "description": "What to draw (or how to change the image)."},
    "model": {"type": "string", "description": "An image-capable catalogue model or alias; other names use "
                                               "the first enabled image model."},
    "n": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
    "size": {"type": "string", "description": "WIDTHxHEIGHT or auto; passed on to the model as a wish."},
    "response_format": {"type": "string", "enum": ["url", "b64_json"], "default": "url"},
}

create_image = extend_schema(
    summary="Create images from a prompt (OpenAI images API)",
    request={"application/json": {"type": "object", "required": ["prompt"], "properties": IMAGE_FIELDS}},
    responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS},
)

edit_image = extend_schema(
    summary="Edit an uploaded image by a prompt (OpenAI images API, multipart)",
    request={"multipart/form-data": {"type": "object", "required": ["prompt", "image"], "properties": {
        **IMAGE_FIELDS, "image": {"type": "string", "format": "binary"},
        "mask": {"type": "string", "format": "binary", "description": "Accepted and ignored."}}}},
    responses={200: OpenApiTypes.OBJECT, **OPENAI_ERRORS},
)
