"""Root URLconf: the OpenAI-compatible API, the management API, the console and the admin."""
from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

from gempool_site.middleware import make_error_handlers
from gempool_site.security import without_csp

# Most requests are /v1 calls and URL resolution tries patterns in order: those come first.
urlpatterns = [
    path("v1/", include("anthropic_api.urls")),
    path("v1/", include("openai_api.urls")),
    path("v1/", include("files_app.urls")),
    path("admin/", without_csp(admin.site.urls)),
    # Plain JSON rendering, so refusals of this staff-only view use the same envelope as the rest of /api.
    path("api/schema/", SpectacularAPIView.as_view(renderer_classes=[JSONRenderer]), name="api-schema"),
    path("api/", include("accounts.urls")),
    path("api/", include("models_catalog.urls")),
    path("api/", include("logins.urls")),
    path("", include("files_app.media_urls")),
    path("", include("openai_api.health_urls")),
    path("", include("console.urls")),
]

_handlers = make_error_handlers()
handler400 = _handlers["handler400"]
handler403 = _handlers["handler403"]
handler404 = _handlers["handler404"]
handler500 = _handlers["handler500"]
