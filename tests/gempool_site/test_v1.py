"""Every /v1 route derives from V1View and is rate limited per API key (README: "every /v1 route")."""
from __future__ import annotations

import json
import re

import pytest
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from gempool_site.throttles import ApiKeyRateThrottle
from gempool_site.v1 import V1View
from tests.garbage import cyclic_garbage_of, request_objects


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
def test_every_v1_route_refuses_a_key_past_its_limit(db, client, route, view_class, throttle_window_stands_still):
    from accounts.services import api_key_create

    method = _method_of(view_class)
    _, raw = api_key_create(name=f"limited {route}", rate_limit_per_minute=1)
    first = getattr(client, method)(_url(route), HTTP_AUTHORIZATION=f"Bearer {raw}")
    second = getattr(client, method)(_url(route), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert first.status_code != 429, (route, first.content)
    assert second.status_code == 429, (route, second.status_code, second.content)
    assert int(second["Retry-After"]) >= 1
    if route.startswith("v1/messages"):  # Anthropic's face answers in Anthropic's envelope
        assert second.json()["error"]["type"] == "rate_limit_error" and second.json()["type"] == "error"
    else:
        assert second.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("method,path,body,status", [
    ("get", "/v1/models", None, 200),
    ("post", "/v1/chat/completions", {"model": "gemini-2.5-flash", "messages": "not a list"}, 400),
    ("post", "/v1/responses", {"model": "gemini-2.5-flash", "input": 5}, 400),
], ids=["models", "invalid chat", "invalid response"])
def test_a_v1_request_leaves_no_view_request_or_serializer_for_the_garbage_collector(db, api_key, method, path,
                                                                                      body, status):
    """A stream's view, DRF Request and serializer live through its upstream wait and would age into the
    collector's oldest generation: they must be freed when the response is, not by a full collection."""
    factory = RequestFactory()
    view = resolve(path).func
    headers = {"HTTP_AUTHORIZATION": f"Bearer {api_key[1]}"}

    def request_once() -> None:
        if method == "get":
            request = factory.get(path, **headers)
        else:
            request = factory.post(path, data=json.dumps(body), content_type="application/json", **headers)
        response = view(request)
        if hasattr(response, "render"):
            response.render()
        assert response.status_code == status, response.content

    request_once()  # first use builds the caches (hot rows, model catalog) that persist anyway
    garbage = cyclic_garbage_of(request_once)
    assert request_objects(garbage) == []


def test_a_chat_completion_is_routed_by_the_first_route_it_tries():
    # Every route passed over costs a pattern match, and every include passed over an exception (Resolver404)
    tried = resolve("/v1/chat/completions").tried
    assert len(tried) == 1 and [str(pattern.pattern) for pattern in tried[0]] == ["v1/", "chat/completions"]
