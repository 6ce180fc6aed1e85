"""/api/usage: usage per day, key and model from the daily rollup, as JSON or a CSV download;
/api/dashboard/series: the dashboard's requests, errors and latency percentiles over a time range;
/api/requests: the searchable request log, a page at a time."""
from __future__ import annotations

import csv
import io

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from gempool_site.exceptions import NotFoundError
from metering.request_log import request_log_get, request_log_page
from metering.serializers import RequestLogQuerySerializer, SeriesQuerySerializer, UsageQuerySerializer
from metering.series import dashboard_series
from metering.usage import COUNTS, usage_report, usage_rows

USAGE_PERMISSIONS = {"GET": ("metering.view_usageday",)}
QUERY_PARAMETERS = [
    OpenApiParameter("from", str, description="first day, YYYY-MM-DD (UTC); default: 29 days before `to`"),
    OpenApiParameter("to", str, description="last day, inclusive; default: today"),
    OpenApiParameter("key", int, description="an API key id (0: requests without a key)"),
    OpenApiParameter("model", str, description="a model id"),
    OpenApiParameter("group_by", str, description="comma list of day, key, model (default: day)"),
]


def _query(request: Request):
    params = UsageQuerySerializer(data=request.query_params.dict())
    params.is_valid(raise_exception=True)
    return params.query()


class UsageView(APIView):
    required_permissions = USAGE_PERMISSIONS

    @extend_schema(parameters=QUERY_PARAMETERS, responses={200: OpenApiResponse(
        description="totals, rows per group, and per-day series per key and per model")})
    def get(self, request: Request) -> Response:
        return Response(usage_report(query=_query(request)))


class UsageExportView(APIView):
    required_permissions = USAGE_PERMISSIONS

    @extend_schema(parameters=QUERY_PARAMETERS, responses={(200, "text/csv"): {"type": "string"}})
    def get(self, request: Request) -> HttpResponse:
        query = _query(request)
        out = io.StringIO()
        writer = csv.writer(out)
        head = [g for g in ("day", "key", "model") if g in query.group_by]
        writer.writerow([*(["key_id", "key"] if "key" in head else []), *[h for h in head if h != "key"],
                         *COUNTS, "latency_ms_avg"])
        for row in usage_rows(query=query):
            writer.writerow([*([row["key"]["id"], _cell(row["key"]["name"])] if "key" in head else []),
                             *[row[h] for h in head if h != "key"], *[row[name] for name in COUNTS],
                             "" if row["latency_ms_avg"] is None else row["latency_ms_avg"]])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (f'attachment; filename="gempool-usage-{query.start}-to-{query.end}.csv"')
        return response


class DashboardSeriesView(APIView):
    required_permissions = {"GET": ("accounts.view_account",)}  # as the dashboard itself (/api/dashboard)

    @extend_schema(parameters=[
        OpenApiParameter("range", str, description="1h, 6h, 24h (default), 7d or 30d"),
        OpenApiParameter("model", str, description="a model id"),
        OpenApiParameter("key", int, description="an API key id (0: requests without a key)"),
        OpenApiParameter("group", str, description="series per model, per key, or none (default)"),
    ], responses={200: OpenApiResponse(description="per-slot requests, errors and estimated latency / TTFT "
                                                   "percentiles; totals, per-model and per-key figures")})
    def get(self, request: Request) -> Response:
        params = SeriesQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        return Response(dashboard_series(query=params.query()))


def _cell(text: str) -> str:
    """Key names are free text: never let a spreadsheet read one as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---- the request log ------------------------------------------------------------------------------

REQUEST_LOG_PERMISSIONS = {"GET": ("accounts.view_requestlog",)}
REQUEST_LOG_PARAMETERS = [
    OpenApiParameter("from", str, description="oldest time: ISO 8601, or an age such as 1h, 24h, 7d (m, h, d, w)"),
    OpenApiParameter("to", str, description="newest time, the same forms (a date: the end of that day, UTC)"),
    OpenApiParameter("key", int, description="an API key id (0: requests without a key)"),
    OpenApiParameter("model", str, description="a model id"),
    OpenApiParameter("account", int, description="an account id: requests any of whose attempts it made"),
    OpenApiParameter("status", str, description="an HTTP status (502) or 2xx, 4xx, 5xx, error (failed, including "
                     "streams that broke after 200), ok"),
    OpenApiParameter("error_kind", str, description="an error kind"),
    OpenApiParameter("endpoint", str, description="chat, responses, messages, images"),
    OpenApiParameter("q", str, description="a request id or its beginning (chatcmpl- and resp_ prefixes allowed)"),
    OpenApiParameter("cursor", str, description="the previous page's `next`"),
    OpenApiParameter("limit", int, description="rows per page, 1-200 (default 50)"),
]


class RequestLogView(APIView):
    required_permissions = REQUEST_LOG_PERMISSIONS

    @extend_schema(parameters=REQUEST_LOG_PARAMETERS, responses={200: OpenApiResponse(
        description="`results` newest first, each with its attempts; `next`: the cursor of the next page (null: "
                    "none); `more`; `prompt_logging`; `retention_days`")})
    def get(self, request: Request) -> Response:
        params = RequestLogQuerySerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        page = request_log_page(query=params.query())
        return Response({**page, "prompt_logging": settings.GEMPOOL_LOG_PROMPTS,
                         "retention_days": settings.GEMPOOL_REQUEST_LOG_RETENTION_DAYS})


class RequestLogEntryView(APIView):
    required_permissions = REQUEST_LOG_PERMISSIONS

    @extend_schema(responses={200: OpenApiResponse(description="one request with its attempts")})
    def get(self, request: Request, pk: int) -> Response:
        entry = request_log_get(pk=pk)
        if entry is None:
            raise NotFoundError("No request with this id (it may have passed the request log's retention).")
        return Response(entry)
