"""/metrics (mounted at the root); /api/usage, /api/dashboard/series and /api/requests (mounted under /api/)."""
from __future__ import annotations

from django.urls import path

import gempool_site.converters  # noqa: F401 - registers <dbid:…>
from metering import api, views

urlpatterns = [  # under /api/
    path("usage", api.UsageView.as_view(), name="api-usage"),
    path("usage/export", api.UsageExportView.as_view(), name="api-usage-export"),
    path("requests", api.RequestLogView.as_view(), name="api-requests"),
    path("requests/<dbid:pk>", api.RequestLogEntryView.as_view(), name="api-request"),
    path("dashboard/series", api.DashboardSeriesView.as_view(), name="api-dashboard-series"),
]

metrics_urlpatterns = [
    path("metrics", views.MetricsView.as_view(), name="metrics"),
]
