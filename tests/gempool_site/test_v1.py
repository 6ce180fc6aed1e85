"""Every /v1 route derives from V1View and is rate limited per API key (README: "every /v1 route")."""
from __future__ import annotations

import re
import time

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from gempool_site.throttles import ApiKeyRateThrottle
from gempool_site.v1 import V1View


def _routes(patterns, prefix: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route, entry.callback


def v1_routes() -> list[tuple[str, type]]:
    routes = [(route, getattr(callback, "view_class", callback))
              for route, callback in _routes(get_resolver().url_patterns) if route.startswith("v1/")]
    assert len(routes) >= 7, routes  # models, model, chat, status, files, file, file content at least
    return routes


def _method_of(view_class) -> str:
    return next(m for m in ("get", "post", "delete") if hasattr(view_class, m))


def _url(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?\w+>", "no-such-thing", route)


def test_every_v1_route_derives_from_the_one_base_view_with_the_per_key_throttle():
    for route, view_class in v1_routes():
        assert isinstance(view_class, type) and issubclass(view_class, V1View), route
        assert ApiKeyRateThrottle in view_class.throttle_classes, route


@pytest.mark.parametrize("route,view_class", v1_routes(), ids=lambda value: value if isinstance(value, str) else "view")
def test_every_v1_route_refuses_a_key_past_its_limit(db, client, route, view_class):
    from accounts.services import api_key_create

    method = _method_of(view_class)
    for _ in range(3):  # a fresh key per try: a minute boundary between the two calls restarts the window
        _, raw = api_key_create(name=f"limited {route}", rate_limit_per_minute=1)
        window = int(time.time() // 60)
        first = getattr(client, method)(_url(route), HTTP_AUTHORIZATION=f"Bearer {raw}")
        second = getattr(client, method)(_url(route), HTTP_AUTHORIZATION=f"Bearer {raw}")
        if int(time.time() // 60) == window:
            break
    assert first.status_code != 429, (route, first.content)
    assert second.status_code == 429, (route, second.status_code, second.content)
    assert int(second["Retry-After"]) >= 1
    if route.startswith("v1/messages"):  # Anthropic's face answers in Anthropic's envelope
        assert second.json()["error"]["type"] == "rate_limit_error" and second.json()["type"] == "error"
    else:
        assert second.json()["error"]["code"] == "rate_limit_exceeded"
