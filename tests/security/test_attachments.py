"""A chat cannot carry thousands of images, and every image it does carry counts against the key's rate."""
from __future__ import annotations

import base64
import time

import pytest
from django.core.cache import cache

from accounts.models import ApiKey
from files_app.models import StoredFile

pytestmark = pytest.mark.django_db
PNG = "data:image/png;base64," + base64.b64encode(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82").decode()


@pytest.fixture(autouse=True)
def _fresh_counts():
    cache.clear()
    yield
    cache.clear()


def _chat(client, key: str, messages: list, model: str = "gemini-2.5-flash"):
    return client.post("/v1/chat/completions", {"model": model, "messages": messages},
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")


def _images(count: int) -> list:
    return [{"type": "text", "text": "look"}] + [{"type": "image_url", "image_url": {"url": PNG}}] * count


def test_two_thousand_inline_images_are_refused_before_any_work(client, api_key):
    started = time.monotonic()
    response = _chat(client, api_key[1], [{"role": "user", "content": _images(2000)}])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_many_attachments" and error["param"] == "messages[0].content"
    assert "GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE" in error["message"]
    assert StoredFile.objects.count() == 0
    assert time.monotonic() - started < 5  # the probe's version took 15 s


def test_the_per_request_cap_counts_across_messages(client, api_key, settings):
    settings.GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE = 3
    settings.GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST = 5
    messages = [{"role": "user", "content": _images(3)}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": _images(3)}]
    error = _chat(client, api_key[1], messages).json()["error"]
    assert error["code"] == "too_many_attachments" and error["param"] == "messages"
    assert "GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST" in error["message"]


def test_the_prompts_format_is_capped_too(client, api_key, settings):
    settings.GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE = 2
    response = client.post("/v1/chat/completions", {"model": "gemini-2.5-flash", "prompts": [
        {"role": "user", "text": "hi", "files": [{"data": PNG}] * 3}]}, content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert response.status_code == 400 and response.json()["error"]["param"] == "prompts[0].files"


def test_each_inline_image_counts_against_the_keys_rate_limit(client, api_key, throttle_window_stands_still):
    record, raw = api_key
    ApiKey.objects.filter(pk=record.pk).update(rate_limit_per_minute=5)
    # 1 request + 4 images = the whole minute's budget (the unknown model is found only afterwards).
    assert _chat(client, raw, [{"role": "user", "content": _images(4)}], model="no-such-model").status_code == 404
    refused = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refused.status_code == 429


def test_a_request_whose_images_pass_the_limit_is_refused_before_storing_them(client, api_key):
    record, raw = api_key
    ApiKey.objects.filter(pk=record.pk).update(rate_limit_per_minute=5)
    response = _chat(client, raw, [{"role": "user", "content": _images(10)}])
    assert response.status_code == 429 and 1 <= int(response["Retry-After"]) <= 61
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert StoredFile.objects.count() == 0
