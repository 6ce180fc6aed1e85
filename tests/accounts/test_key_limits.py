"""Per-key limits: model allow-list, daily request and token budgets (UTC days), concurrency."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.key_limits import KeyAdmission, KeyRefusal, key_admit, key_release
from accounts.models import KeyDayUse, KeyInFlight
from accounts.services import api_key_create

pytestmark = pytest.mark.django_db
MODEL = "gemini-2.5-flash"
LATE = datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)


def _key(**limits):
    return api_key_create(name="limited", **limits)[0]


def test_a_key_without_limits_counts_nothing(django_assert_num_queries):
    key = _key()
    with django_assert_num_queries(0):
        assert key_admit(api_key=key, model_id=MODEL) is None


def test_a_model_outside_the_allow_list_is_a_403_naming_the_allowed_ones():
    key = _key(allowed_models=["gemini-2.5-pro"])
    refused = key_admit(api_key=key, model_id=MODEL)
    assert isinstance(refused, KeyRefusal) and (refused.status, refused.code) == (403, "model_not_allowed")
    assert "gemini-2.5-pro" in refused.message and refused.retry_after is None
    assert isinstance(key_admit(api_key=key, model_id="gemini-2.5-pro"), KeyAdmission)


def test_the_daily_request_budget_renews_at_midnight_utc():
    key = _key(requests_per_day=2)
    for _ in range(2):
        assert isinstance(key_admit(api_key=key, model_id=MODEL, now=LATE), KeyAdmission)
    refused = key_admit(api_key=key, model_id=MODEL, now=LATE)
    assert (refused.status, refused.code, refused.retry_after) == (429, "daily_request_limit_exceeded", 1)
    assert KeyDayUse.objects.get(day=LATE.date()).requests == 2  # the refused one gave its claim back
    assert isinstance(key_admit(api_key=key, model_id=MODEL, now=LATE + timedelta(seconds=1)), KeyAdmission)
    assert KeyDayUse.objects.get(day=(LATE + timedelta(seconds=1)).date()).requests == 1


def test_the_token_budget_admits_while_under_it_and_counts_answers_after_them():
    key = _key(tokens_per_day=100)
    noon = LATE.replace(hour=12, minute=0, second=0)
    first = key_admit(api_key=key, model_id=MODEL, now=noon)
    key_release(admission=first, tokens=99, now=noon)
    second = key_admit(api_key=key, model_id=MODEL, now=noon)  # 99 < 100: admitted
    key_release(admission=second, tokens=30, now=noon)
    refused = key_admit(api_key=key, model_id=MODEL, now=noon)
    assert (refused.status, refused.code) == (429, "daily_token_limit_exceeded")
    assert refused.retry_after == 12 * 3600
    assert KeyDayUse.objects.get().tokens == 129


def test_concurrency_slots_are_held_until_released_and_expire_if_never_released():
    key = _key(max_concurrent=2, requests_per_day=10)
    now = LATE.replace(hour=10)
    held = [key_admit(api_key=key, model_id=MODEL, now=now) for _ in range(2)]
    refused = key_admit(api_key=key, model_id=MODEL, now=now)
    assert (refused.status, refused.code, refused.retry_after) == (429, "concurrency_limit_exceeded", 1)
    assert KeyInFlight.objects.count() == 2 and KeyDayUse.objects.get().requests == 2  # nothing kept by the refusal
    key_release(admission=held[0], tokens=5, now=now)
    assert isinstance(key_admit(api_key=key, model_id=MODEL, now=now), KeyAdmission)
    # A worker died holding its slots: an hour later they no longer count.
    later = now + timedelta(hours=1, seconds=1)
    assert isinstance(key_admit(api_key=key, model_id=MODEL, now=later), KeyAdmission)


def test_an_expired_key_is_refused_at_the_door(client, catalogue):
    key, raw = api_key_create(name="old", expires_at=datetime(2020, 1, 1, tzinfo=UTC))
    response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401 and "expired at 2020-01-01" in response.json()["error"]["message"]


def test_limits_are_edited_through_the_api_and_validated(staff_client, catalogue):
    key = _key()
    response = staff_client.patch(f"/api/keys/{key.pk}", {"allowed_models": ["gemini-2.5-pro"], "requests_per_day": 5,
                                                           "max_concurrent": 2, "is_admin": True},
                                  content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["allowed_models"], data["requests_per_day"], data["max_concurrent"], data["is_admin"]) == (
        ["gemini-2.5-pro"], 5, 2, False)  # the scope is not editable
    bad = staff_client.patch(f"/api/keys/{key.pk}", {"allowed_models": ["no-such-model"], "tokens_per_day": 0},
                             content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()["error"]["fields"]) == {"allowed_models", "tokens_per_day"}
    cleared = staff_client.patch(f"/api/keys/{key.pk}", {"requests_per_day": None, "allowed_models": []},
                                 content_type="application/json").json()
    assert cleared["requests_per_day"] is None and cleared["allowed_models"] == []
