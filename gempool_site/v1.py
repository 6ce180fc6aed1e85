"""The one base class of every /v1 view (the OpenAI-compatible API)."""
from __future__ import annotations

import functools
from collections.abc import Callable

from django.template.response import SimpleTemplateResponse
from rest_framework.request import Request
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from gempool_site.auth import ApiKeyAuthentication, HasApiKey
from gempool_site.negotiation import JsonWhateverTheAccept
from gempool_site.throttles import ApiKeyRateThrottle


# Every route under /v1 derives from this; tests/gempool_site/test_v1.py walks the URLconf to keep it so.
# (The docstring is the operations' description in the OpenAPI schema.)
class V1View(APIView):
    """Bearer API key, per-key rate limit, JSON errors in OpenAI's envelope."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    content_negotiation_class = JsonWhateverTheAccept

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            self._unlink()

    def _unlink(self) -> None:
        """Undo DRF's two-way links between this view, its Request and its Response.

        DRF's Request holds the view and itself in its parser context; the view holds the Request, the
        Response (whose renderer context holds the view and, once rendered, the Response itself) and, on a
        view with GET, its own bound `get` as `head`: reference cycles, which only the garbage collector frees.
        A stream's greenlet waits on the upstream while they are alive, so by the time they are garbage they
        have aged into the collector's oldest generation, and a burst of streams leaves thousands of such
        objects there until a full collection (bench/README.md, "Memory per open stream, and where it goes").
        Unlinked, they are freed as soon as Django has sent the response.
        """
        drf_request = self.__dict__.get("request")
        if isinstance(drf_request, Request) and isinstance(drf_request.parser_context, dict):
            drf_request.parser_context.pop("view", None)
            drf_request.parser_context.pop("request", None)
        self.__dict__.pop("head", None)  # Django's View.setup() binds self.get here for HEAD requests
        response = self.__dict__.pop("response", None)
        if isinstance(response, SimpleTemplateResponse):  # DRF's Response: rendered after the view returns
            response.add_post_render_callback(_forget_itself)


def request_base_url(request: Request) -> Callable[[], str]:
    """The site's root URL as `request` addressed it ("https://host/"), worked out when called: only answers
    that link to stored images need it, and Django's build_absolute_uri is about 1 % of a chat request's CPU."""
    return functools.partial(request.build_absolute_uri, "/")


def _forget_itself(response: SimpleTemplateResponse) -> None:
    context = getattr(response, "renderer_context", None)
    if isinstance(context, dict):
        context.pop("response", None)  # DRF puts it there for the renderers, which have run


def validated_data(serializer_class: type[Serializer], data) -> dict:
    """`data` validated by a new `serializer_class` (ValidationError, as DRF raises it, when invalid), with the
    serializer's links to its bound fields dropped afterwards: each field refers back to it (`parent`), a
    cycle that would otherwise wait for the garbage collector as the view's did."""
    serializer = serializer_class(data=data)
    try:
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data
    finally:
        _drop_bound_fields(serializer)


def _drop_bound_fields(serializer: Serializer) -> None:
    for field in serializer.__dict__.pop("fields", {}).values():  # DRF caches them there on first use
        if isinstance(field, Serializer):  # a nested serializer has bound fields of its own
            _drop_bound_fields(field)
