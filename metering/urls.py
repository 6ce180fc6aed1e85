"""/metrics (mounted at the root) and /api/usage (mounted under /api/)."""
from __future__ import annotations

from django.urls import path

from metering import views

metrics_urlpatterns = [
    path("metrics", views.MetricsView.as_view(), name="metrics"),
]
