"""Model catalogue routes (mounted at /api/)."""
from __future__ import annotations

from django.urls import path

from models_catalog import api

urlpatterns = [
    path("models", api.ModelListView.as_view(), name="api-models"),
    # <str:> stops at "/", which model ids may not contain (model_id_validator).
    path("models/<str:model_id>", api.ModelDetailView.as_view(), name="api-model"),
]
