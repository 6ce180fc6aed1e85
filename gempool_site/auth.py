"""API-key authentication (Bearer keys from createapikey) and the permissions of the management API (/api).

Who may do what on /api:
- an admin API key (createapikey --admin): everything it could always do, except exporting cookies, which
  needs a person (ConfigExportView);
- a staff user's session: the Django permissions the view names for the HTTP method (`required_permissions`),
  the same ones the admin checks; superusers have them all;
- anyone else, including a valid key that is not an admin key: 403 saying why.
"""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer gp-...` for /v1: any live key. Sets request.auth to the ApiKey."""

    keyword = "Bearer"
    def authenticate(self, request: Request):
        from accounts.key_limits import key_check_expiry
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
        key_check_expiry(api_key)  # ApiKeyExpired: 401 with its own code, in the envelope of the route
        return AnonymousUser(), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gempool"'


class AdminTokenAuthentication(ApiKeyAuthentication):
    """The same Bearer keys on /api; the permission classes below let only admin keys through."""


class HasApiKey(permissions.BasePermission):
    """Passes when ApiKeyAuthentication accepted a key."""

    def has_permission(self, request: Request, view) -> bool:
        return request.auth is not None


NOT_AN_ADMIN_KEY = ("This API key is not an admin key: /api needs a key created with `createapikey NAME --admin` "
                    "(or a staff user's session).")
SAFE_AS_GET = ("HEAD", "OPTIONS")


def crud_permissions(app_label: str, model: str) -> dict[str, tuple[str, ...]]:
    """The usual method -> Django permission map for a model's list and detail routes."""
    view, add = f"{app_label}.view_{model}", f"{app_label}.add_{model}"
    change, delete = f"{app_label}.change_{model}", f"{app_label}.delete_{model}"
    return {"GET": (view,), "POST": (add,), "PUT": (change,), "PATCH": (change,), "DELETE": (delete,)}


def _is_staff(request: Request) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


class IsStaff(permissions.BasePermission):
    """A logged-in staff user (session, CSRF-checked by DRF) or an admin API key."""

    message = "Only staff users and admin API keys may use the management API."

    def has_permission(self, request: Request, view) -> bool:
        if request.auth is not None:
            self.message = NOT_AN_ADMIN_KEY
            return bool(getattr(request.auth, "is_admin", False))
        return _is_staff(request)


class HasModelPermissions(IsStaff):
    """IsStaff, and a staff user must also hold the view's `required_permissions[method]`.

    A view or method without an entry is open to superusers and admin keys only (it fails closed).
    """

    def has_permission(self, request: Request, view) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.auth is not None:
            return True
        method = "GET" if request.method in SAFE_AS_GET else request.method
        required = getattr(view, "required_permissions", {}).get(method)
        if request.user.is_superuser or (required and request.user.has_perms(required)):
            return True
        missing = [name for name in required or ("superuser",) if not request.user.has_perm(name)]
        self.message = f"Your user lacks the permission needed here: {', '.join(missing)}."
        return False
