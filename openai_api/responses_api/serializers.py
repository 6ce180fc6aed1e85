"""POST /v1/responses bodies: the fields gempool acts on, validated; the rest OpenAI clients send is ignored."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from gempool_site.lean_serializer import LeanSerializer
from openai_api.responses_api.items import fail, parse_input
from openai_api.responses_api.tools import parse_tool_request


class ParsedJSONField(serializers.Field):
    """Any JSON value, as the request body's parser produced it (JSONField would encode it again to check)."""

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class InputField(ParsedJSONField):
    """`input` (its OpenAPI shape is declared in openai_api.schema)."""


class ResponseToolsField(ParsedJSONField):
    """Responses `tools`: flat function tools and other types (its OpenAPI shape is in openai_api.schema)."""


class ResponseToolChoiceField(ParsedJSONField):
    """Responses `tool_choice` (its OpenAPI shape is declared in openai_api.schema)."""


class ObjectField(ParsedJSONField):
    """An object echoed back (metadata, reasoning, text); its OpenAPI shape is declared in openai_api.schema."""


class ResponseRequestSerializer(LeanSerializer):
    """`model`, `input`, `instructions`, `stream`, `store`, `previous_response_id`, tools and the echoed
    settings; sampling options (temperature, max_output_tokens, ...) are echoed but the upstream has none."""

    model = serializers.CharField(max_length=200, trim_whitespace=True)
    input = InputField()
    instructions = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    stream = serializers.BooleanField(required=False, default=False)
    store = serializers.BooleanField(required=False, default=True, allow_null=True)
    previous_response_id = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                                 max_length=64)
    tools = ResponseToolsField(required=False)
    tool_choice = ResponseToolChoiceField(required=False)
    parallel_tool_calls = serializers.BooleanField(required=False, default=True, allow_null=True)
    metadata = ObjectField(required=False)
    reasoning = ObjectField(required=False)
    temperature = serializers.FloatField(required=False, allow_null=True)
    top_p = serializers.FloatField(required=False, allow_null=True)
    max_output_tokens = serializers.IntegerField(required=False, allow_null=True)
    text = ObjectField(required=False)
    user = serializers.CharField(required=False, allow_null=True, allow_blank=True)

    def validate(self, attrs: dict) -> dict:
        attrs["items"] = parse_input(attrs["input"])
        attrs["store"] = attrs.get("store") is not False
        attrs["parallel_tool_calls"] = attrs.get("parallel_tool_calls") is not False
        attrs["metadata"] = _metadata(attrs.get("metadata"))
        attrs["tools"] = _tools(attrs.get("tools"))
        attrs["tool_choice"] = attrs.get("tool_choice") or "auto"
        attrs["tool_request"] = parse_tool_request(tools=attrs["tools"], tool_choice=attrs["tool_choice"],
                                                   parallel=attrs["parallel_tool_calls"])
        if not attrs["items"] and not attrs.get("previous_response_id"):
            fail("input", "input holds no items.")
        return attrs


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > 16 or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512 for k, v in value.items()):
        fail("metadata", "metadata must be an object of at most 16 string keys (64 chars) and string values "
                         "(512 chars).")
    return value


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(tool, dict) and isinstance(tool.get("type"), str)
                                              for tool in value):
        fail("tools", "tools must be a list of objects with a 'type'.")
    return value
