"""Console pages (mounted at /): staff only; anyone else is sent to /login/?next=..."""
from __future__ import annotations

from django.urls import path

from console import views

urlpatterns = [
    path("", views.dashboard_page, name="console-dashboard"),
    path("accounts/", views.accounts_page, name="console-accounts"),
    path("refresh/", views.refresh_page, name="console-refresh"),
    path("models/", views.models_page, name="console-models"),
    path("usage/", views.usage_page, name="console-usage"),
    path("requests/", views.requests_page, name="console-requests"),
    path("settings/", views.settings_page, name="console-settings"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
]
