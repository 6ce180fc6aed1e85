"""Management API routes of the re-login worker (mounted at /api/)."""
from __future__ import annotations

from django.urls import path

from logins import api

urlpatterns = [
    path("mailboxes", api.MailboxListView.as_view(), name="api-mailboxes"),
    path("mailboxes/<int:pk>", api.MailboxDetailView.as_view(), name="api-mailbox"),
    path("mailboxes/<int:pk>/test", api.MailboxTestView.as_view(), name="api-mailbox-test"),
    path("accounts/<int:pk>/login", api.AccountLoginView.as_view(), name="api-account-login"),
    path("accounts/<int:pk>/cookies", api.AccountCookiesView.as_view(), name="api-account-cookies"),
    path("accounts/<int:pk>/refresh", api.AccountRefreshView.as_view(), name="api-account-refresh"),
    path("refresh", api.RefreshOverviewView.as_view(), name="api-refresh"),
    path("refresh/jobs", api.RefreshJobListView.as_view(), name="api-refresh-jobs"),
    path("refresh/jobs/<int:pk>/screenshot", api.RefreshJobScreenshotView.as_view(),
         name="api-refresh-job-screenshot"),
]
