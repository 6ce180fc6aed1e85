"""GET /metrics for Prometheus: an admin API key or a staff session, or nothing on GEMPOOL_METRICS_BIND."""
from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework.request import Request
from rest_framework.views import APIView

from gempool_site.negotiation import JsonWhateverTheAccept
from metering.exposition import metrics_text

METRICS_PERMISSIONS = {"GET": ("metering.view_requestattempt",)}


class MetricsView(APIView):
    """The REST_FRAMEWORK defaults protect it like /api (Prometheus sends the key as `authorization`)."""

    required_permissions = METRICS_PERMISSIONS
    content_negotiation_class = JsonWhateverTheAccept

    @extend_schema(responses={(200, "text/plain"): {"type": "string"}})
    def get(self, request: Request) -> HttpResponse:
        return metrics_response()


def metrics_response() -> HttpResponse:
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
