"""Django's middleware for browser sessions, standing aside on `/v1`.

Every `/v1` route is an API-key view (gempool_site.v1.V1View): no session, session user, CSRF token or
flash message has any meaning there. Django's session, CSRF, authentication and messages middleware still
did their work on each such request (a session store, a lazy user, a message storage with two backends, the
CSRF cookie checks): about 0.1 ms of the ~2.2 ms of CPU a completion costs, measured with
bench/side_by_side.py. These subclasses pass `/v1` requests straight on and behave exactly as Django's
everywhere else (the console, `/api`, the admin); being subclasses, they satisfy the admin's system checks
for its required middleware. Security headers (SecurityMiddleware, CSP, X-Frame-Options,
Permissions-Policy) stay on every response.
"""
from __future__ import annotations

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.middleware import csrf

KEY_API_PREFIX = "/v1/"


def is_key_api(request) -> bool:
    path = request.path_info
    return path.startswith(KEY_API_PREFIX) or path == "/v1"


class StandsAsideOnKeyApi:
    """Mixin for a MiddlewareMixin subclass: `/v1` requests go straight to the next layer."""

    def __call__(self, request):
        if is_key_api(request):
            return self.get_response(request)  # under ASGI, the coroutine Django awaits
        return super().__call__(request)


class SessionMiddleware(StandsAsideOnKeyApi, sessions.SessionMiddleware):
    pass


class CsrfViewMiddleware(StandsAsideOnKeyApi, csrf.CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        if is_key_api(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(StandsAsideOnKeyApi, auth.AuthenticationMiddleware):
    pass


class MessageMiddleware(StandsAsideOnKeyApi, messages.MessageMiddleware):
    pass
