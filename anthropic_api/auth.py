"""API keys as Anthropic's clients send them: `x-api-key`, or `Authorization: Bearer` like the rest of /v1."""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.request import Request

from gempool_site.auth import ApiKeyAuthentication


class AnthropicKeyAuthentication(ApiKeyAuthentication):
    """The same gempool API keys; `x-api-key` (the anthropic SDK, Claude Code) wins over Authorization."""

    def authenticate(self, request: Request):
        from accounts.key_limits import key_check_expiry
        from accounts.services import api_key_verify

        raw = request.META.get("HTTP_X_API_KEY", "").strip()
        if not raw:
            return super().authenticate(request)
        api_key = api_key_verify(raw=raw)
        if api_key is None:
            raise exceptions.AuthenticationFailed("invalid x-api-key")
        key_check_expiry(api_key)  # ApiKeyExpired: 401, as for a Bearer key
        return AnonymousUser(), api_key
