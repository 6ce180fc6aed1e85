"""Keeps Django-level failures (unknown route, oversized body, crash) JSON for API clients."""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse

from gempool_site.exceptions import error_response

logger = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/api/")


def is_api_path(path: str) -> bool:
    """True for the routes whose clients expect JSON error envelopes."""
    return path.startswith(API_PREFIXES) or path in ("/v1", "/api", "/health", "/metrics")


class ApiErrorMiddleware:
    """Turns exceptions escaping an API view into the JSON envelope instead of an HTML page."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path) and self._too_large(request):
            return error_response(413, "Request body is too large.", code="request_too_large", path=request.path)
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest) -> bool:
        # DRF reads JSON straight from the socket, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check,
        # so the declared length is checked here before anything is read.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        return length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        if isinstance(exc, RequestDataTooBig):
            return error_response(413, "Request body is too large.", code="request_too_large", path=request.path)
        if isinstance(exc, SuspiciousOperation):
            return error_response(400, "Bad request.", path=request.path)
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "The server had an error while processing your request.",
                              type="server_error", code="internal_error", path=request.path)


def _api_or_default(status: int, message: str, code: str, default: Callable) -> Callable:
    def handler(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
        if is_api_path(request.path):
            type_ = "server_error" if status >= 500 else "invalid_request_error"
            return error_response(status, message, type=type_, code=code, path=request.path)
        return default(request, exception) if exception is not None else default(request)
    return handler


def make_error_handlers() -> dict[str, Callable]:
    """handler400/403/404/500 for the root URLconf: JSON under the API prefixes, Django's pages elsewhere."""
    from django.views import defaults

    return {
        "handler400": _api_or_default(400, "Bad request.", "bad_request", defaults.bad_request),
        "handler403": _api_or_default(403, "Forbidden.", "forbidden", defaults.permission_denied),
        "handler404": _api_or_default(404, "Unknown route.", "unknown_url", defaults.page_not_found),
        "handler500": _api_or_default(500, "The server had an error while processing your request.",
                                      "internal_error", defaults.server_error),
    }
