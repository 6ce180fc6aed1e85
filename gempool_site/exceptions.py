"""The application's error tree and the one place that renders errors as JSON envelopes.

Every error under /v1 and /api leaves as `{"error": {"message", "type", "param", "code"}}` with the
status OpenAI would use; /api validation errors add a `fields` map of per-field messages, and an error class
may add members of its own (`envelope_extras`, e.g. an invalid config's `problems`).
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from metering import metrics

logger = logging.getLogger(__name__)


class GempoolError(Exception):
    """An error the client should see, with its HTTP status and OpenAI-style type/code.

    Names follow openai-python's (BadRequestError, NotFoundError), so they never clash with the upstream
    tree in gemini_enterprise/errors.py.
    """

    status = 400
    type = "invalid_request_error"
    code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = headers or {}

    def envelope_extras(self) -> dict[str, Any]:
        """Members added to the envelope's `error` object beside message/type/param/code (none by default)."""
        return {}


class BadRequestError(GempoolError):
    status = 400


class NotFoundError(GempoolError):
    status = 404
    code = "not_found"


class RateLimitExceeded(GempoolError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limit_exceeded"


class ApiKeyExpired(GempoolError):
    """The key's expiry date has passed (ApiKey.expires_at)."""

    status = 401
    code = "api_key_expired"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="gempool"'})


class ModelNotAllowed(GempoolError):
    """The model is outside the key's allow-list (ApiKey.allowed_models)."""

    status = 403
    type = "permission_error"
    code = "model_not_allowed"


class KeyLimitExceeded(RateLimitExceeded):
    """A key's own limit refused the request; `retry_after` (seconds) is also sent as Retry-After."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class DailyRequestBudgetExceeded(KeyLimitExceeded):
    code = "daily_request_budget_exceeded"


class DailyTokenBudgetExceeded(KeyLimitExceeded):
    code = "daily_token_budget_exceeded"


class ConcurrencyLimitExceeded(KeyLimitExceeded):
    code = "concurrency_limit_exceeded"


class PayloadTooLarge(GempoolError):
    status = 413
    code = "request_too_large"


def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None, fields: dict | None = None) -> dict[str, Any]:
    """The OpenAI error envelope."""
    body: dict[str, Any] = {"message": message, "type": type, "param": param, "code": code}
    if fields:
        body["fields"] = fields
    return {"error": body}


def error_response(status: int, message: str, *, path: str = "", **kwargs: Any) -> JsonResponse:
    """A plain Django JSON response carrying the envelope of the API `path` belongs to (for code outside DRF)."""
    headers = kwargs.pop("headers", None) or {}
    body = anthropic_error_body(status, message) if path.startswith(ANTHROPIC_PATH_PREFIX) else \
        error_body(message, **kwargs)
    response = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


ANTHROPIC_PATH_PREFIX = "/v1/messages"  # Anthropic's face: its clients read Anthropic's envelope
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                    503: "overloaded_error", 529: "overloaded_error"}


def anthropic_error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status (api_error for any other server-side failure)."""
    if status in _ANTHROPIC_TYPES:
        return _ANTHROPIC_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}


_DRF_TYPES = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    406: ("invalid_request_error", "not_acceptable"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def _validation_response(exc: drf.ValidationError) -> Response:
    detail = exc.detail
    fields = detail if isinstance(detail, dict) else None
    param = next(iter(detail), None) if isinstance(detail, dict) else None
    if param == "non_field_errors":
        param = None
    body = error_body(_flatten(detail), param=param, code="invalid_request", fields=fields)
    return Response(body, status=400)


def _count_rejection(context: dict) -> None:
    """A DRF throttle refused the request: count it on /metrics, under the key's name when a key was used."""
    request = context.get("request")
    api_key = getattr(request, "auth", None)
    name = getattr(api_key, "name", None)
    metrics.rate_limit_rejected(limit="requests_per_minute" if name is not None else "anonymous", key=name or "")


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's EXCEPTION_HANDLER: render every known error as the envelope; unknown ones as a logged 500."""
    if isinstance(exc, GempoolError):
        body = error_body(exc.message, type=exc.type, param=exc.param, code=exc.code)
        body["error"].update(exc.envelope_extras())
        return Response(body, status=exc.status, headers=exc.headers)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("Request body is too large.", code="request_too_large"), status=413)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        return _validation_response(exc)
    if isinstance(exc, drf.Throttled):
        _count_rejection(context)
    if isinstance(exc, drf.APIException):
        type_, code = _DRF_TYPES.get(exc.status_code, ("invalid_request_error", None))
        if isinstance(exc, drf.ParseError):
            code = "invalid_json"
        headers = {}
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait) + 1)
        if exc.status_code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="gempool"'
        body = error_body(_flatten(exc.detail), type=type_, code=code)
        return Response(body, status=exc.status_code, headers=headers)
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("Bad request."), status=400)
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return Response(error_body("The server had an error while processing your request.",
                               type="server_error", code="internal_error"), status=500)
