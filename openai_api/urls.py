from __future__ import annotations

from django.urls import path

from openai_api import views

urlpatterns = [  # the busiest first: a request tries the routes in turn
    path("chat/completions", views.ChatCompletionsView.as_view(), name="v1-chat-completions"),
    path("responses", views.ResponsesView.as_view(), name="v1-responses"),
    path("models", views.ModelListView.as_view(), name="v1-models"),
    path("models/<str:model_id>", views.ModelDetailView.as_view(), name="v1-model"),
    path("responses/<str:response_id>", views.ResponseDetailView.as_view(), name="v1-response"),
    path("images/generations", views.ImageGenerationsView.as_view(), name="v1-images-generations"),
    path("images/edits", views.ImageEditsView.as_view(), name="v1-images-edits"),
    path("status", views.StatusView.as_view(), name="v1-status"),
]
