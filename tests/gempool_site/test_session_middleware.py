"""Django's session, CSRF, auth and messages middleware stand aside on /v1 and work as Django's elsewhere."""
from __future__ import annotations

import pytest
from django.contrib import messages
from django.core import checks
from django.http import HttpResponse
from django.test import RequestFactory

from gempool_site import session_middleware

MIDDLEWARE = (session_middleware.SessionMiddleware, session_middleware.AuthenticationMiddleware,
              session_middleware.MessageMiddleware, session_middleware.CsrfViewMiddleware)


def _through_the_stack(path: str):
    """The request as the view sees it after all four middleware."""
    seen = []

    def view(request):
        seen.append(request)
        return HttpResponse("ok")

    handler = view
    for middleware in reversed(MIDDLEWARE):
        handler = middleware(handler)
    handler(RequestFactory().get(path))
    return seen[0]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1"])
def test_an_api_key_route_gets_no_session_user_or_message_store(path):
    request = _through_the_stack(path)
    assert not any(hasattr(request, name) for name in ("session", "user", "_messages"))
    assert "CSRF_COOKIE" not in request.META


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/accounts", "/console/", "/admin/", "/v1x"])
def test_every_other_route_gets_them_as_from_djangos_own(path):
    request = _through_the_stack(path)
    assert hasattr(request, "session") and not request.user.is_authenticated
    messages.info(request, "saved")  # the message store is there


@pytest.mark.parametrize(("path", "refused"), [("/v1/chat/completions", False), ("/api/settings", True)])
def test_csrf_checks_a_cookie_less_post_everywhere_but_on_api_key_routes(path, refused):
    csrf = session_middleware.CsrfViewMiddleware(lambda request: HttpResponse("ok"))
    request = RequestFactory().post(path, data="{}", content_type="application/json")
    request._dont_enforce_csrf_checks = False
    outcome = csrf.process_view(request, lambda request: HttpResponse("view"), (), {})
    assert (outcome is not None and outcome.status_code == 403) is refused


def test_the_admin_finds_the_middleware_it_requires():
    """Its checks (admin.E408-E410) look for Django's classes or subclasses; the CSRF refusal of a console
    write without a token is pinned in tests/security/test_hardening.py."""
    errors = [message.id for message in checks.run_checks(tags=[checks.Tags.admin])]
    assert errors == []
