"""/v1/images in-process (Django's test client, the simulator over loopback): a key's own limits apply to an
images request as to any other, and one request holds one admission however many images it asks for."""
from __future__ import annotations

import json

import pytest
from django.core.cache import cache

from accounts.key_limits import key_admit, key_usage_today
from accounts.services import api_key_create

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogue")]


@pytest.fixture(autouse=True)
def _fresh_key_counters():
    cache.clear()  # primary keys repeat between rolled-back tests; their counters must not
    yield
    cache.clear()


def _generate(client, raw: str, **body):
    return client.post("/v1/images/generations", data=json.dumps({"prompt": "a lighthouse", **body}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_an_image_model_outside_the_keys_allow_list_is_refused_with_403(client):
    _, raw = api_key_create(name="text only", allowed_models=["gemini-2.5-flash"])
    response = _generate(client, raw, model="gemini-imagen")
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("permission_error", "model", "model_not_allowed")
    assert "gemini-2.5-flash" in error["message"]


def test_a_key_over_its_daily_request_budget_gets_429_with_retry_after(client):
    api_key, raw = api_key_create(name="spent", daily_request_budget=1)
    key_admit(api_key=api_key).finish(tokens=0)
    response = _generate(client, raw, model="gemini-imagen")
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "daily_request_budget_exceeded"
    assert int(response["Retry-After"]) >= 1


@pytest.mark.usefixtures("upstream_settings")
def test_several_images_count_one_request_and_free_the_concurrency_slot_after_the_last(client, pool_account,
                                                                                        settings):
    settings.GEMPOOL_IMAGE_WAIT_SECONDS = 3
    pool_account()
    api_key, raw = api_key_create(name="one at a time", max_concurrent_requests=1, daily_request_budget=5,
                                  daily_token_budget=100_000)
    response = _generate(client, raw, model="gemini-imagen", n=2, response_format="b64_json")
    assert response.status_code == 200, response.content
    assert len(response.json()["data"]) == 2
    usage = key_usage_today(api_key)
    assert (usage["requests"], usage["in_flight"]) == (1, 0)
    assert usage["tokens"] > 0  # both runs' estimated tokens, charged once at the end
