"""Security headers: Django's CSP middleware sends exactly the console's policy; the admin is exempt."""
from __future__ import annotations

import pytest

from gempool_site.security import PERMISSIONS_POLICY

pytestmark = pytest.mark.django_db

# The policy as the hand-written middleware sent it before Django's own took over: kept byte for byte.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")


@pytest.mark.parametrize("path", ["/", "/accounts/", "/login/", "/api/accounts", "/v1/models", "/health",
                                  "/no-such-page"])
def test_every_response_outside_the_admin_carries_exactly_the_console_policy(staff_client, path):
    response = staff_client.get(path)
    assert response["Content-Security-Policy"] == CONSOLE_CSP
    assert response["Permissions-Policy"] == PERMISSIONS_POLICY
    assert "Content-Security-Policy-Report-Only" not in response


# (An error page under /admin/ comes from gempool's own handlers, not the admin: it carries the policy.)
@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/accounts/account/",
                                  "/admin/accounts/account/add/", "/admin/password_change/"])
def test_the_admin_keeps_djangos_defaults_without_the_console_policy(staff_client, django_user_model, path):
    staff_client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-9-root"))
    response = staff_client.get(path)
    assert response.status_code in (200, 302, 404), response.status_code
    assert "Content-Security-Policy" not in response
    assert response["X-Frame-Options"] == "DENY"
