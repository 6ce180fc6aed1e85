"""Nobody gets in without credentials: every route of the URLconf is checked, so a new one cannot slip by."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Routes meant to be reachable without credentials, and why.
PUBLIC = {
    "health": "load-balancer health check: up or degraded (counts need a key)",
    "login/": "the login form itself",
    "logout/": "ends a session; harmless without one",
    "^image/(?P<name>.*)$": "generated media behind unguessable names",
}
SAMPLE_VALUES = {"int": "1", "dbid": "1", "str": "x", "slug": "x", "path": "x",
                 "uuid": "00000000-0000-0000-0000-000000000000"}


def _walk(patterns, prefix=""):
    for entry in patterns:
        route = str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                yield "admin/"
                continue
            yield from _walk(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            yield prefix + route


def _concrete(route: str) -> str:
    route = route.lstrip("^").rstrip("$")
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES.get(m.group(1) or "str", "x"), route)
    return "/" + route.replace("\\", "")


ROUTES = sorted({route for route in _walk(get_resolver().url_patterns) if route not in PUBLIC})


def test_the_urlconf_walk_finds_every_area():
    joined = " ".join(ROUTES)
    for needle in ("v1/chat/completions", "v1/files", "api/accounts", "api/models", "api/config", "admin/"):
        assert needle in joined


@pytest.mark.parametrize("route", ROUTES)
def test_anonymous_requests_are_refused_everywhere(client, route):
    path = _concrete(route)
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        if path.startswith(("/api/", "/v1/")):
            assert response.status_code in (401, 403, 404, 405), (method, path, response.status_code)
            if response.status_code in (401, 403):
                assert response["Content-Type"].startswith("application/json")
                assert "error" in response.json()
        else:
            assert response.status_code in (302, 405), (method, path, response.status_code)
            if response.status_code == 302:
                assert "login" in response["Location"]


@pytest.mark.parametrize("route", [r for r in ROUTES if r.startswith(("api/", "v1/"))])
def test_a_chat_key_does_not_open_the_management_api(client, api_key, route):
    path = _concrete(route)
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    if path.startswith("/api/"):
        assert response.status_code in (401, 403, 405)


def test_a_plain_logged_in_user_is_not_an_operator(client, django_user_model):
    user = django_user_model.objects.create_user(username="guest", password="pw-123-abc")
    client.force_login(user)
    assert client.get("/api/accounts").status_code == 403
    assert client.get("/").status_code in (302, 403)
