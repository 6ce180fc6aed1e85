"""Anthropic's error envelope for every error under /v1/messages: `{"type": "error", "error": {type, message}}`.

Which status an error gets stays decided in one place (gempool_site.exceptions.api_exception_handler); this
handler only re-dresses its answer in Anthropic's envelope and error type.
"""
from __future__ import annotations

from rest_framework.response import Response

from gempool_site.exceptions import anthropic_error_body, api_exception_handler


def anthropic_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's exception handler for the Anthropic face."""
    response = api_exception_handler(exc, context)
    if response is None:
        return None
    message = response.data.get("error", {}).get("message", "Error.") if isinstance(response.data, dict) else \
        "Error."
    response.data = anthropic_error_body(response.status_code, message)
    response.headers.pop("WWW-Authenticate", None)
    return response
