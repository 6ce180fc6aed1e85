"""Management API routes of the re-login worker (mounted at /api/)."""
from __future__ import annotations

from django.urls import path

import gempool_site.converters  # noqa: F401 - registers <dbid:…>
from logins import api

urlpatterns = [
    path("mailboxes", api.MailboxListView.as_view(), name="api-mailboxes"),
    path("mailboxes/<dbid:pk>", api.MailboxDetailView.as_view(), name="api-mailbox"),
    path("mailboxes/<dbid:pk>/test", api.MailboxTestView.as_view(), name="api-mailbox-test"),
    path("accounts/<dbid:pk>/login", api.AccountLoginView.as_view(), name="api-account-login"),
    path("accounts/<dbid:pk>/cookies", api.AccountCookiesView.as_view(), name="api-account-cookies"),
    path("accounts/<dbid:pk>/refresh", api.AccountRefreshView.as_view(), name="api-account-refresh"),
    path("refresh", api.RefreshOverviewView.as_view(), name="api-refresh"),
    path("refresh/jobs", api.RefreshJobListView.as_view(), name="api-refresh-jobs"),
    path("refresh/jobs/<dbid:pk>/screenshot", api.RefreshJobScreenshotView.as_view(),
         name="api-refresh-job-screenshot"),
]
