"""What gempool tells whom: first-start secrets, cookies readable by scripts, health counts, DNS by refusals."""
from __future__ import annotations

import io
import re
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.services import api_key_verify

pytestmark = pytest.mark.django_db


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_first_start_secrets_go_to_a_private_file_not_to_the_log(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    log = io.StringIO()  # what a container log would keep: not a terminal
    call_command("firstrun", stdout=log)
    path = tmp_path / "first-start-credentials.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = path.read_text()
    password = re.search(r"admin / (\S+)", saved).group(1)
    key = re.search(r"API key \(for /v1\)\s+: (\S+)", saved).group(1)
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert api_key_verify(raw=key) is not None
    assert str(path) in log.getvalue()
    assert password not in log.getvalue() and key not in log.getvalue()


def test_first_start_shows_the_secrets_on_a_terminal(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    terminal = _Terminal()
    call_command("firstrun", stdout=terminal)
    key = re.search(r"API key \(for /v1\)\s+: (\S+)", (tmp_path / "first-start-credentials.txt").read_text())
    assert key.group(1) in terminal.getvalue()


def test_the_csrf_cookie_is_out_of_reach_of_scripts(client):
    response = client.get("/login/")
    assert response.cookies["csrftoken"]["httponly"] is True
    # The console posts with the token from the page instead (meta tag and hidden form field).
    assert 'name="csrfmiddlewaretoken"' in response.content.decode()


def test_health_tells_anonymous_callers_only_up_or_degraded(client, make_account):
    make_account()
    body = client.get("/health").json()
    assert body == {"status": "up"}


def test_health_says_degraded_without_an_available_account(client):
    assert client.get("/health").json() == {"status": "degraded"}


def test_health_shows_counts_to_a_key(client, api_key, make_account):
    make_account()
    body = client.get("/health", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").json()
    assert body["status"] == "up" and body["accounts"]["available"] == 1 and "models" in body


def test_a_wrong_key_on_health_gets_the_anonymous_answer(client, make_account):
    make_account()
    assert client.get("/health", HTTP_AUTHORIZATION="Bearer gp-wrong").json() == {"status": "up"}


def test_image_url_refusals_do_not_tell_unknown_from_internal_hosts(client, api_key, catalogue):
    def refusal(url: str) -> str:
        response = client.post("/v1/chat/completions", {"model": catalogue.first().id, "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]},
            content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
        assert response.status_code == 400
        return response.json()["error"]["message"]

    unknown = refusal("http://nowhere.invalid/a.png").replace("nowhere.invalid", "HOST")
    internal = refusal("http://10.0.0.7/a.png").replace("10.0.0.7", "HOST")
    assert unknown == internal
