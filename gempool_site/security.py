"""Security headers the stock middleware does not set: a Content-Security-Policy and a Permissions-Policy.

The console is built for a strict policy: every script and stylesheet is a file under /static/, no inline
code, no third-party origin. So an injected `<script>` (or a stored label rendered by mistake as HTML)
cannot run, and the page cannot be framed or post forms elsewhere.
"""
from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

CONSOLE_CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
# Django's admin is Django's to keep CSP-clean; it keeps its own defaults (frame denial, nosniff).
EXEMPT_PREFIXES = ("/admin/",)


class ContentSecurityPolicyMiddleware:
    """Adds the console's CSP (and a Permissions-Policy) to every response outside the exempt prefixes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith(EXEMPT_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
            response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
