"""Management API routes for the account pool (mounted at /api/)."""
from __future__ import annotations

from django.urls import path

import gempool_site.converters  # noqa: F401 - registers <dbid:…>
from accounts import api

urlpatterns = [
    path("accounts", api.AccountListView.as_view(), name="api-accounts"),
    path("accounts/bulk", api.AccountBulkView.as_view(), name="api-accounts-bulk"),
    path("accounts/<dbid:pk>", api.AccountDetailView.as_view(), name="api-account"),
    path("accounts/<dbid:pk>/toggle", api.AccountToggleView.as_view(), name="api-account-toggle"),
    path("accounts/<dbid:pk>/test", api.AccountTestView.as_view(), name="api-account-test"),
    path("config", api.ConfigView.as_view(), name="api-config"),
    path("config/import", api.ConfigImportView.as_view(), name="api-config-import"),
    path("config/export", api.ConfigExportView.as_view(), name="api-config-export"),
    path("proxy/test", api.ProxyTestView.as_view(), name="api-proxy-test"),
    path("proxy/status", api.ProxyStatusView.as_view(), name="api-proxy-status"),
    path("keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path("keys/<dbid:pk>", api.ApiKeyDetailView.as_view(), name="api-key"),
    path("keys/<dbid:pk>/revoke", api.ApiKeyRevokeView.as_view(), name="api-key-revoke"),
    path("dashboard", api.DashboardView.as_view(), name="api-dashboard"),
]
