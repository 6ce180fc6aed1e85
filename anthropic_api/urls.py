from __future__ import annotations

from django.urls import path

from anthropic_api import views

urlpatterns = [
    path("messages", views.MessagesView.as_view(), name="v1-messages"),
    path("messages/count_tokens", views.CountTokensView.as_view(), name="v1-messages-count-tokens"),
]
