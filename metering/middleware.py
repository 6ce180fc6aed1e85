"""Counts every HTTP request for /metrics, and serves the metrics-only listener (GEMPOOL_METRICS_BIND)."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from gempool_site.exceptions import error_response
from metering import metrics
from metering.views import metrics_response

METRICS_PATH = "/metrics"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Labels requests by route pattern (never the raw path: ids would explode the series count)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        bind = settings.GEMPOOL_METRICS_BIND
        self.metrics_port = bind.rpartition(":")[2] if bind else None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # SERVER_PORT is the port of the socket the request came in on (gunicorn sets it from the
        # listener, not from the Host header), so a client cannot reach this branch by lying.
        if self.metrics_port is not None and request.META.get("SERVER_PORT") == self.metrics_port:
            return self._metrics_listener(request)
        metrics.HTTP_IN_PROGRESS.inc()
        try:
            response = self.get_response(request)
        finally:
            metrics.HTTP_IN_PROGRESS.dec()
        match = getattr(request, "resolver_match", None)
        route = f"/{match.route}" if match is not None and match.route else "unmatched"
        metrics.HTTP_REQUESTS.labels(route=route, method=request.method if request.method in METHODS else "other",
                                     status=str(response.status_code)).inc()
        return response

    @staticmethod
    def _metrics_listener(request: HttpRequest) -> HttpResponse:
        """Only GET /metrics, with no credentials: the listener's address is the protection."""
        if request.path != METRICS_PATH:
            return error_response(404, "Only /metrics is served on this address.", code="unknown_url")
        if request.method not in ("GET", "HEAD"):
            return error_response(405, "Use GET.", code="method_not_allowed")
        return metrics_response()
