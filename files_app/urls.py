"""/v1/files routes (mounted under /v1/)."""
from __future__ import annotations

from django.urls import path

from files_app import api

urlpatterns = [
    path("files", api.FilesView.as_view(), name="files"),
    path("files/<str:file_id>", api.FileDetailView.as_view(), name="file-detail"),
    path("files/<str:file_id>/content", api.FileContentView.as_view(), name="file-content"),
]
