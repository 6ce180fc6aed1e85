"""/v1/messages in-process (Django's test client, the simulator over loopback): attachments through the same
stores and SSRF-safe fetch as chat completions, and Anthropic's envelope for what they refuse."""
from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts.key_limits import key_admit
from accounts.services import api_key_create
from gemini_enterprise.simulator.media import tiny_png

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upstream_settings")]

MODEL = "gemini-2.5-flash"


class _Images(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = tiny_png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cat.png"
    server.shutdown()
    server.server_close()


def _post(client, raw_key, body, path="/v1/messages"):
    return client.post(path, data=json.dumps(body), content_type="application/json", HTTP_X_API_KEY=raw_key,
                       HTTP_ANTHROPIC_VERSION="2023-06-01")


def test_base64_and_url_images_and_documents_reach_the_upstream(client, api_key, pool_account, image_url,
                                                                settings):
    settings.GEMPOOL_URL_FETCH_ALLOW_PRIVATE = True  # the picture is served on loopback
    pool_account()
    png = base64.b64encode(tiny_png()).decode()
    answer = _post(client, api_key[1], {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "image", "source": {"type": "url", "url": image_url}},
        {"type": "document", "source": {"type": "base64", "media_type": "text/plain",
                                        "data": base64.b64encode(b"some notes").decode()}},
        {"type": "text", "text": "What are these?"}]}]})
    assert answer.status_code == 200, answer.content
    text = answer.json()["content"][0]["text"]
    # The same picture twice is one stored file; the simulator lists what was attached upstream.
    assert "Attached files: attachment-1.png" in text and "(10 bytes, text/plain)" in text


def test_an_image_url_to_an_internal_address_is_refused_in_anthropics_envelope(client, api_key, pool_account):
    pool_account()
    answer = _post(client, api_key[1], {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "url", "url": "http://127.0.0.1:9/secret.png"}}]}]})
    assert answer.status_code == 400
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert set(body) == {"type", "error"} and set(body["error"]) == {"type", "message"}


def test_count_tokens_grows_with_images_and_needs_no_upstream(client, api_key):
    png = base64.b64encode(tiny_png()).decode()
    plain = _post(client, api_key[1], {"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
                  path="/v1/messages/count_tokens").json()["input_tokens"]
    with_image = _post(client, api_key[1], {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
        {"type": "text", "text": "x"}]}]}, path="/v1/messages/count_tokens").json()["input_tokens"]
    assert with_image >= plain + 258


def test_a_body_over_the_limit_is_refused_in_anthropics_envelope(client, api_key, settings):
    answer = client.post("/v1/messages", data=b"{}", content_type="application/json", HTTP_X_API_KEY=api_key[1],
                         CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1))
    assert answer.status_code == 413
    assert answer.json() == {"type": "error", "error": {"type": "request_too_large",
                                                        "message": "Request body is too large."}}


def test_an_unknown_model_is_a_not_found_error_and_a_method_is_refused_in_the_envelope(client, api_key):
    missing = _post(client, api_key[1], {"model": "claude-opus-4-1", "max_tokens": 5,
                                         "messages": [{"role": "user", "content": "x"}]})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert "claude-opus-4-1" in missing.json()["error"]["message"]
    wrong_method = client.get("/v1/messages", HTTP_X_API_KEY=api_key[1])
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "error"


# ---- a key's own limits, in Anthropic's envelope ---------------------------------------------------

HELLO = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def fresh_key_counters():
    cache.clear()  # primary keys repeat between rolled-back tests; their counters must not
    yield
    cache.clear()


@pytest.mark.usefixtures("fresh_key_counters", "catalogue")
def test_a_key_over_its_daily_request_budget_gets_a_429_rate_limit_error_with_retry_after(client):
    api_key, raw = api_key_create(name="spent", daily_request_budget=1)
    key_admit(api_key=api_key).finish(tokens=0)
    answer = _post(client, raw, HELLO)
    assert answer.status_code == 429, answer.content
    body = answer.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "daily budget of 1 requests" in body["error"]["message"]
    assert int(answer["Retry-After"]) >= 1


@pytest.mark.usefixtures("fresh_key_counters", "catalogue")
def test_a_model_outside_the_keys_allow_list_is_a_403_permission_error(client):
    _, raw = api_key_create(name="pro only", allowed_models=["gemini-2.5-pro"])
    answer = _post(client, raw, HELLO)
    assert answer.status_code == 403, answer.content
    assert answer.json()["error"]["type"] == "permission_error"
    assert "gemini-2.5-pro" in answer.json()["error"]["message"]


@pytest.mark.usefixtures("catalogue")
def test_an_expired_key_in_x_api_key_is_a_401_authentication_error(client):
    _, raw = api_key_create(name="gone", expires_at=timezone.now() - timedelta(seconds=1))
    answer = _post(client, raw, HELLO)
    assert answer.status_code == 401, answer.content
    assert answer.json()["error"]["type"] == "authentication_error"
    assert "expire" in answer.json()["error"]["message"]
    bearer = client.post("/v1/messages", data=json.dumps(HELLO), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert bearer.status_code == 401 and bearer.json()["error"]["type"] == "authentication_error"
