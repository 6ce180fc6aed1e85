"""Root URLconf: the OpenAI-compatible API, the management API, the console and the admin."""
from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

from anthropic_api.urls import urlpatterns as anthropic_v1
from files_app.urls import urlpatterns as files_v1
from gempool_site.middleware import make_error_handlers
from gempool_site.security import without_csp
from metering.urls import metrics_urlpatterns
from openai_api.urls import urlpatterns as openai_v1

# Most requests are /v1 calls and URL resolution tries patterns in order: those come first.
urlpatterns = [
    # One include for all of /v1: each include a request's path passes over costs an exception (Resolver404),
    # and the OpenAI routes, the busiest, come first.
    path("v1/", include(openai_v1 + anthropic_v1 + files_v1)),
    path("admin/", without_csp(admin.site.urls)),
    # Plain JSON rendering, so refusals of this staff-only view use the same envelope as the rest of /api.
    path("api/schema/", SpectacularAPIView.as_view(renderer_classes=[JSONRenderer]), name="api-schema"),
    path("api/", include("accounts.urls")),
    path("api/", include("models_catalog.urls")),
    path("api/", include("logins.urls")),
    path("api/", include("metering.urls")),
    path("", include("files_app.media_urls")),
    path("", include("openai_api.health_urls")),
    path("", include(metrics_urlpatterns)),
    path("", include("console.urls")),
]

_handlers = make_error_handlers()
handler400 = _handlers["handler400"]
handler403 = _handlers["handler403"]
handler404 = _handlers["handler404"]
handler500 = _handlers["handler500"]
