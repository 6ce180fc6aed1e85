"""/metrics (mounted at the root); /api/usage and /api/dashboard/series (mounted under /api/)."""
from __future__ import annotations

from django.urls import path

from metering import api, views

urlpatterns = [  # under /api/
    path("usage", api.UsageView.as_view(), name="api-usage"),
    path("usage/export", api.UsageExportView.as_view(), name="api-usage-export"),
    path("dashboard/series", api.DashboardSeriesView.as_view(), name="api-dashboard-series"),
]

metrics_urlpatterns = [
    path("metrics", views.MetricsView.as_view(), name="metrics"),
]
