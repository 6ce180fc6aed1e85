"""API-key authentication (Bearer keys from createapikey) and the staff-or-admin-key permission."""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer gp-...` for /v1: any live key. Sets request.auth to the ApiKey."""

    keyword = "Bearer"
    require_admin = False

    def authenticate(self, request: Request):
        from accounts.services import api_key_verify

        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Malformed Authorization header; expected 'Bearer <key>'.")
        api_key = api_key_verify(raw=raw.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Incorrect API key provided.")
        if api_key.expired():
            raise exceptions.AuthenticationFailed(f"This API key expired at {api_key.expires_at:%Y-%m-%d %H:%M} UTC.")
        if self.require_admin and not api_key.is_admin:
            return None
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gempool"'


class AdminTokenAuthentication(ApiKeyAuthentication):
    """The same Bearer keys on /api, but only keys created with --admin count."""

    require_admin = True


class HasApiKey(permissions.BasePermission):
    """Passes when ApiKeyAuthentication accepted a key."""

    def has_permission(self, request: Request, view) -> bool:
        return request.auth is not None


class IsStaff(permissions.BasePermission):
    """A logged-in staff user (session, CSRF-checked by DRF) or an admin API key."""

    def has_permission(self, request: Request, view) -> bool:
        if getattr(request.auth, "is_admin", False):
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)
