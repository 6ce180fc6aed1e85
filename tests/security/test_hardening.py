"""CSRF, rate limits, security headers and secrets that never leak."""
from __future__ import annotations

import logging

import pytest
from django.test import Client

from accounts.models import ApiKey

pytestmark = pytest.mark.django_db
MARKER = "LEAKCHECK-7Hq2Zx9-cookie-value"


def test_console_writes_need_a_csrf_token(staff_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user)
    response = client.post("/api/accounts", {"team_id": "t", "csesidx": "1", "secure_c_ses": "c"},
                           content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_an_admin_key_needs_no_csrf_token(admin_key):
    client = Client(enforce_csrf_checks=True)
    response = client.get("/api/accounts", HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")
    assert response.status_code == 200


def test_per_key_rate_limits_answer_429_with_retry_after(client, api_key, settings, throttle_window_stands_still):
    record, raw = api_key
    ApiKey.objects.filter(pk=record.pk).update(rate_limit_per_minute=2)
    statuses = [client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert 1 <= int(response["Retry-After"]) <= 61
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_the_global_rate_limit_applies_to_keys_without_their_own(client, api_key, settings,
                                                                  throttle_window_stands_still):
    settings.GEMPOOL_RATE_LIMIT_PER_MINUTE = 1
    _, raw = api_key
    assert [client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code for _ in range(2)] == [200, 429]


def test_console_pages_carry_the_security_headers(staff_client):
    response = staff_client.get("/")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "Strict-Transport-Security" not in response


def test_hsts_is_sent_over_tls(staff_client):
    response = staff_client.get("/health", secure=True)
    assert "max-age=" in response["Strict-Transport-Security"]


def test_a_stored_cookie_never_appears_in_any_response_or_log(client, django_user_model, caplog,
                                                              upstream_settings):
    staff_client = client
    staff_client.force_login(django_user_model.objects.create_superuser(username="root", password="pw-9-root"))
    caplog.set_level(logging.DEBUG)
    created = staff_client.post("/api/accounts", {"label": "leak", "team_id": "team-leak", "csesidx": "987654",
                                                  "secure_c_ses": MARKER, "host_c_oses": MARKER + "-oses"},
                                content_type="application/json")
    assert created.status_code == 201, created.content
    account_id = created.json()["id"]
    bodies = [created.content]
    for path in ("/api/accounts", f"/api/accounts/{account_id}", "/api/config", "/api/proxy/status",
                 "/api/dashboard", "/", "/accounts/", "/settings/", "/admin/accounts/account/",
                 f"/admin/accounts/account/{account_id}/change/"):
        response = staff_client.get(path)
        assert response.status_code in (200, 404), (path, response.status_code)
        bodies.append(response.content)
    tested = staff_client.post(f"/api/accounts/{account_id}/test")  # a real login attempt: fails upstream
    bodies.append(tested.content)
    assert tested.status_code == 200
    for body in bodies:
        assert MARKER.encode() not in body
    assert MARKER not in caplog.text
    for record in caplog.records:
        assert MARKER not in record.getMessage()
