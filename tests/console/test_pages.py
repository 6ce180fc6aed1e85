"""Console pages without a browser: who may see them, login throttling, security headers, no inline code."""
from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db

PAGES = ["/", "/accounts/", "/refresh/", "/models/", "/usage/", "/requests/", "/settings/"]


@pytest.fixture(autouse=True)
def _fresh_throttle():
    cache.clear()  # the login throttle lives in the (per-process) cache
    yield
    cache.clear()


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


@pytest.mark.parametrize("url", PAGES)
def test_a_user_without_staff_rights_cannot_see_the_console(client, django_user_model, url):
    client.force_login(django_user_model.objects.create_user(username="plain", password="pw-12345678"))
    assert client.get(url).status_code == 302


@pytest.mark.parametrize("url", PAGES)
def test_staff_sees_the_page_with_a_strict_content_security_policy(staff_client, url):
    response = staff_client.get(url)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    html = response.content.decode()
    # The policy forbids inline code, so the templates must not contain any.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\sstyle=\"", html) and "<style" not in html
    assert not re.search(r"\son[a-z]+=\"", html)
    assert 'name="csrf-token"' in html


def test_the_api_carries_the_policy_too_but_the_admin_keeps_its_own(staff_client):
    assert "Content-Security-Policy" in staff_client.get("/api/accounts")
    assert "Content-Security-Policy" not in staff_client.get("/admin/login/")


def test_logging_in_lands_on_the_next_page(client, staff_user):
    response = client.post("/login/?next=/models/", {"username": "operator", "password": "correct-horse-42",
                                                      "next": "/models/"})
    assert response.status_code == 302 and response["Location"] == "/models/"
    assert client.get("/models/").status_code == 200


def test_login_refuses_an_offsite_next(client, staff_user):
    response = client.post("/login/", {"username": "operator", "password": "correct-horse-42",
                                       "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_a_non_staff_user_cannot_log_in(client, django_user_model):
    django_user_model.objects.create_user(username="plain", password="pw-12345678")
    response = client.post("/login/", {"username": "plain", "password": "pw-12345678"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_login_is_throttled_after_repeated_failures(client, staff_user, settings, throttle_window_stands_still):
    settings.GEMPOOL_LOGIN_RATE = (3, 60)
    for _ in range(3):
        assert client.post("/login/", {"username": "operator", "password": "wrong"}).status_code == 200
    blocked = client.post("/login/", {"username": "operator", "password": "correct-horse-42"})
    assert blocked.status_code == 429 and int(blocked["Retry-After"]) > 0
    assert "Too many failed sign-ins" in blocked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's failures (tests/security/test_login.py has the rest).
    other = Client(REMOTE_ADDR="10.9.8.7")
    assert other.post("/login/", {"username": "operator", "password": "correct-horse-42"}).status_code == 302


def test_the_login_form_itself_is_csrf_protected(staff_user):
    client = Client(enforce_csrf_checks=True)
    assert client.post("/login/", {"username": "operator", "password": "correct-horse-42"}).status_code == 403


def test_logout_needs_a_post(staff_client):
    assert staff_client.get("/logout/").status_code == 405
    assert staff_client.post("/logout/").status_code == 302
    assert staff_client.get("/").status_code == 302


@pytest.mark.parametrize("asset", ["console.css", "app.js", "theme.js", "chart.js", "dashboard.js", "accounts.js",
                                   "models.js", "settings.js", "refresh.js", "logo.svg"])
def test_assets_are_served_by_the_app_itself(client, asset):
    response = client.get(f"/static/console/{asset}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    # Nothing is fetched from another origin (the SVG namespace and form placeholders are not fetches).
    for harmless in (b"http://www.w3.org/2000/svg", b"http://host:port"):
        body = body.replace(harmless, b"")
    assert b"http://" not in body and b"https://" not in body and b"@import" not in body
