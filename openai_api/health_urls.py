from __future__ import annotations

from django.urls import path
from django.views.decorators.http import require_safe

from openai_api import views

urlpatterns = [path("health", require_safe(views.health), name="health")]
