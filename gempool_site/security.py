"""Security headers beyond Django's: a Permissions-Policy, and the admin's exemption from the console's CSP.

The Content-Security-Policy itself is Django's (SECURE_CSP in settings, ContentSecurityPolicyMiddleware). The
console is built for that strict policy: every script and stylesheet is a file under /static/, no inline code,
no third-party origin. So an injected `<script>` (or a stored label rendered by mistake as HTML) cannot run,
and the page cannot be framed or post forms elsewhere.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver
from django.views.decorators.csp import csp_override

PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class PermissionsPolicyMiddleware:
    """Denies the browser features no page of ours uses (Django has no setting for this header)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def without_csp(included: tuple[list, str, str]) -> tuple[list, str, str]:
    """`admin.site.urls` with every view exempt from SECURE_CSP (Django's own per-view override).

    Django's admin is Django's to keep CSP-clean; it keeps its own defaults (frame denial, nosniff).
    """
    patterns, app_name, namespace = included
    for entry in patterns:
        _exempt(entry)
    return patterns, app_name, namespace


def _exempt(entry: URLPattern | URLResolver) -> None:
    if isinstance(entry, URLResolver):
        for inner in entry.url_patterns:
            _exempt(inner)
    else:
        entry.callback = csp_override({})(entry.callback)
