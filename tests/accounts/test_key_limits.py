"""A key's own limits: allow-list, expiry, daily request and token budgets, concurrent requests."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from accounts import key_limits
from accounts.key_limits import key_admit, key_check_model, key_usage_today
from accounts.models import ApiKey
from accounts.services import api_key_create
from gempool_site.exceptions import (
    ConcurrencyLimitExceeded,
    DailyRequestBudgetExceeded,
    DailyTokenBudgetExceeded,
    ModelNotAllowed,
)
from tests.gateway_process import ROOT
from tests.polling import wait_until

BEFORE_MIDNIGHT = datetime(2026, 12, 5, 23, 59, 58, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 12, 6, 0, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _utc_days_and_fresh_counters(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "UTC", 0
    cache.clear()  # primary keys repeat between rolled-back tests; their counters must not
    yield
    cache.clear()


def _key(**limits) -> ApiKey:
    return api_key_create(name="limited", **limits)[0]


def chat(client, raw: str, model: str = "gemini-2.5-flash", **extra):
    return client.post("/v1/chat/completions", data=json.dumps({
        "model": model, "messages": [{"role": "user", "content": "hello"}], **extra}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")


# ---- allow-list and expiry ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_a_model_outside_the_allow_list_is_refused_with_403_model_not_allowed(client):
    api_key, raw = api_key_create(name="pro only", allowed_models=["gemini-2.5-pro"])
    response = chat(client, raw, model="gemini-2.5-flash")
    assert response.status_code == 403, response.content
    assert response.json()["error"] == {"message": response.json()["error"]["message"], "type": "permission_error",
                                        "param": "model", "code": "model_not_allowed"}
    assert "gemini-2.5-pro" in response.json()["error"]["message"]
    key_check_model(api_key, model_id="gemini-2.5-pro")  # the listed one passes
    with pytest.raises(ModelNotAllowed):  # the same rule for every face (the Responses API, Anthropic's)
        key_check_model(api_key, model_id="gemini-imagen")
    key_check_model(_key(), model_id="anything")  # no list: every model


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_the_responses_api_applies_the_same_limits(client):
    _, raw = api_key_create(name="pro only", allowed_models=["gemini-2.5-pro"])
    response = client.post("/v1/responses", data=json.dumps({"model": "gemini-2.5-flash", "input": "hi"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 403 and response.json()["error"]["code"] == "model_not_allowed"
    _, spent = api_key_create(name="spent", daily_request_budget=1)
    key_admit(api_key=ApiKey.objects.get(name="spent"))
    response = client.post("/v1/responses", data=json.dumps({"model": "gemini-2.5-flash", "input": "hi"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {spent}")
    assert response.status_code == 429 and response.json()["error"]["code"] == "daily_request_budget_exceeded"
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_an_expired_key_gets_401_api_key_expired_on_v1_and_on_api(client):
    _, raw = api_key_create(name="gone", expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "api_key_expired"
    assert response["WWW-Authenticate"] == 'Bearer realm="gempool"'
    _, admin_raw = api_key_create(name="gone admin", is_admin=True, expires_at=timezone.now() - timedelta(hours=1))
    response = client.get("/api/accounts", HTTP_AUTHORIZATION=f"Bearer {admin_raw}")
    assert response.status_code == 401 and response.json()["error"]["code"] == "api_key_expired"
    _, later = api_key_create(name="still fine", expires_at=timezone.now() + timedelta(days=1))
    assert client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {later}").status_code == 200


@pytest.mark.django_db
def test_health_does_not_count_an_expired_key_as_a_key(client):
    _, raw = api_key_create(name="gone", expires_at=timezone.now() - timedelta(seconds=1))
    assert set(client.get("/health", HTTP_AUTHORIZATION=f"Bearer {raw}").json()) == {"status"}


# ---- daily budgets --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_key_without_counted_limits_costs_no_cache_call(monkeypatch):
    monkeypatch.setattr(key_limits, "cache", None)  # any use would raise
    assert key_admit(api_key=_key(allowed_models=["x"], rate_limit_per_minute=5)) is None


@pytest.mark.django_db
def test_the_request_budget_refuses_until_the_reset_with_retry_after_up_to_it():
    api_key = _key(daily_request_budget=2)
    for _ in range(2):
        key_admit(api_key=api_key, now=BEFORE_MIDNIGHT).finish(tokens=0)
    with pytest.raises(DailyRequestBudgetExceeded) as refused:
        key_admit(api_key=api_key, now=BEFORE_MIDNIGHT)
    assert refused.value.status == 429 and refused.value.code == "daily_request_budget_exceeded"
    assert refused.value.retry_after == 2 and refused.value.headers == {"Retry-After": "2"}
    assert key_admit(api_key=api_key, now=AFTER_MIDNIGHT) is not None  # a new day, a new budget
    assert key_usage_today(api_key, now=BEFORE_MIDNIGHT)["requests"] == 2  # the refusal was not counted
    assert key_usage_today(api_key, now=AFTER_MIDNIGHT)["requests"] == 1


@pytest.mark.django_db
def test_the_reset_hour_and_zone_move_the_budget_day(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "America/Los_Angeles", 0
    api_key = _key(daily_request_budget=1)
    key_admit(api_key=api_key, now=BEFORE_MIDNIGHT)  # 15:59 Pacific: midnight UTC is no reset here
    with pytest.raises(DailyRequestBudgetExceeded) as refused:
        key_admit(api_key=api_key, now=AFTER_MIDNIGHT)
    assert refused.value.retry_after == 8 * 3600  # until 00:00 PST = 08:00 UTC
    assert key_admit(api_key=api_key, now=datetime(2026, 12, 6, 8, 0, tzinfo=UTC)) is not None


@pytest.mark.django_db
def test_the_token_budget_counts_after_the_answer_and_refuses_the_next_request_once_used_up():
    api_key = _key(daily_token_budget=100)
    key_admit(api_key=api_key, now=BEFORE_MIDNIGHT).finish(tokens=60)
    admission = key_admit(api_key=api_key, now=BEFORE_MIDNIGHT)  # 60 < 100: let in, though it will go over
    admission.finish(tokens=60)
    admission.finish(tokens=60)  # finishing twice counts once
    with pytest.raises(DailyTokenBudgetExceeded) as refused:
        key_admit(api_key=api_key, now=BEFORE_MIDNIGHT)
    assert refused.value.code == "daily_token_budget_exceeded" and refused.value.retry_after == 2
    assert "120 used" in refused.value.message
    assert key_admit(api_key=api_key, now=AFTER_MIDNIGHT) is not None


# ---- concurrency ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_concurrent_requests_over_the_limit_get_429_until_one_finishes():
    api_key = _key(max_concurrent_requests=2)
    first, second = key_admit(api_key=api_key), key_admit(api_key=api_key)
    with pytest.raises(ConcurrencyLimitExceeded) as refused:
        key_admit(api_key=api_key)
    assert refused.value.code == "concurrency_limit_exceeded" and refused.value.headers == {"Retry-After": "1"}
    assert key_usage_today(api_key)["in_flight"] == 2
    first.finish(tokens=0)
    third = key_admit(api_key=api_key)
    second.finish(tokens=0)
    third.finish(tokens=0)
    assert key_usage_today(api_key)["in_flight"] == 0


@pytest.mark.django_db
def test_a_request_refused_for_its_budget_gives_its_concurrency_slot_back():
    api_key = _key(max_concurrent_requests=1, daily_request_budget=1)
    key_admit(api_key=api_key).finish(tokens=0)
    with pytest.raises(DailyRequestBudgetExceeded):
        key_admit(api_key=api_key)
    assert key_usage_today(api_key)["in_flight"] == 0


@pytest.mark.django_db
def test_a_slot_whose_request_never_ends_frees_itself_after_its_ttl(settings):
    settings.GEMPOOL_KEY_SLOT_TTL_SECONDS = 1  # (the environment's minimum is 10; the rule is the same)
    api_key = _key(max_concurrent_requests=1)
    key_admit(api_key=api_key)  # its worker "crashes": never finished
    with pytest.raises(ConcurrencyLimitExceeded):
        key_admit(api_key=api_key)

    def admitted() -> bool:
        try:
            key_admit(api_key=api_key)
        except ConcurrencyLimitExceeded:
            return False
        return True

    assert wait_until(admitted, timeout=5) is not None


@pytest.mark.django_db
def test_a_running_request_renews_its_slot(settings, monkeypatch):
    settings.GEMPOOL_KEY_SLOT_TTL_SECONDS = 30
    admission = key_admit(api_key=_key(max_concurrent_requests=1))
    touched = []
    monkeypatch.setattr(key_limits.cache, "touch", lambda key, timeout: touched.append((key, timeout)))
    admission.renew()
    assert touched == []  # renewed a moment ago: no cache call per event
    admission.slot.renewed -= 11  # a third of the TTL later
    admission.renew()
    assert touched == [(admission.slot.cache_key, 30)]


# ---- several processes on one Redis --------------------------------------------------------------


def _redis_or_skip() -> None:
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is not there
        pytest.skip(f"needs Redis on 127.0.0.1:6379 ({exc})")


ADMIT_MANY = """
import django, json, os, sys, time
django.setup()
from accounts.key_limits import key_admit
from accounts.models import ApiKey
from gempool_site.exceptions import KeyLimitExceeded
key = ApiKey(pk=4242, prefix="gp-multi", daily_request_budget=int(sys.argv[1]), max_concurrent_requests=3)
print("ready", flush=True)
while not os.path.exists(sys.argv[3]):  # both start counting together
    time.sleep(0.001)
admitted = refused = 0
for _ in range(int(sys.argv[2])):
    try:
        key_admit(api_key=key).finish(tokens=0)
        admitted += 1
    except KeyLimitExceeded:
        refused += 1
print(json.dumps({"admitted": admitted, "refused": refused}))
"""


@pytest.mark.redis
def test_two_processes_sharing_redis_let_exactly_the_budget_through(tmp_path):
    _redis_or_skip()
    prefix = f"gempool-test-{secrets.token_hex(6)}"  # this test's own keys in the shared Redis
    go = tmp_path / "go"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": "redis://127.0.0.1:6379/0",
           "GEMPOOL_CACHE_PREFIX": prefix, "GEMPOOL_QUOTA_TIMEZONE": "UTC"}
    workers = [subprocess.Popen([sys.executable, "-c", ADMIT_MANY, "500", "400", str(go)], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
    go.touch()
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    try:
        assert sum(r["admitted"] for r in results) == 500, results  # no lost count, no double count
        assert sum(r["refused"] for r in results) == 300
        assert all(r["admitted"] > 0 for r in results)  # both really counted on the same budget
    finally:
        for name in client.scan_iter(f"{prefix}:*"):
            client.delete(name)


# ---- editing: /api/keys/<id> and the admin ---------------------------------------------------------


def _patch(client, url: str, body: dict, **headers):
    return client.patch(url, data=json.dumps(body), content_type="application/json", **headers)


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_an_admin_key_sets_and_clears_a_keys_limits_and_sees_todays_use(client, admin_key):
    target = _key()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}
    body = {"allowed_models": ["gemini-2.5-pro", "gemini-2.5-pro", " gemini-imagen "], "daily_request_budget": 10,
            "daily_token_budget": 5000, "max_concurrent_requests": 3, "expires_at": "2031-01-01T00:00:00Z"}
    response = _patch(client, f"/api/keys/{target.pk}", body, **auth)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["allowed_models"] == ["gemini-2.5-pro", "gemini-imagen"]
    assert (data["daily_request_budget"], data["daily_token_budget"], data["max_concurrent_requests"]) == (10, 5000, 3)
    assert data["expired"] is False and data["usage_today"] == {"requests": 0, "tokens": 0, "in_flight": 0}
    key_admit(api_key=ApiKey.objects.get(pk=target.pk))
    assert client.get(f"/api/keys/{target.pk}", **auth).json()["usage_today"] == {
        "requests": 1, "tokens": 0, "in_flight": 1}
    cleared = _patch(client, f"/api/keys/{target.pk}", {"daily_request_budget": None, "allowed_models": []}, **auth)
    assert cleared.json()["daily_request_budget"] is None and cleared.json()["max_concurrent_requests"] == 3
    assert ApiKey.objects.get(pk=target.pk).allowed_models == []


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_bad_limits_are_refused_with_the_field_named(client, admin_key):
    target = _key()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}
    response = _patch(client, f"/api/keys/{target.pk}", {"allowed_models": ["gemini-2.5-pro", "gpt-9"],
                                                         "max_concurrent_requests": 0}, **auth)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "gpt-9" in str(fields["allowed_models"]) and "max_concurrent_requests" in fields
    assert ApiKey.objects.get(pk=target.pk).max_concurrent_requests is None


@pytest.mark.django_db
def test_a_key_cannot_be_made_an_admin_key_after_its_creation(client, admin_key):
    target = _key()
    response = _patch(client, f"/api/keys/{target.pk}", {"is_admin": True, "name": "renamed"},
                      HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")
    assert response.status_code == 200 and response.json()["is_admin"] is False
    assert ApiKey.objects.get(pk=target.pk).name == "renamed"


@pytest.mark.django_db
def test_changing_limits_needs_the_manage_api_keys_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="viewer", password="x-horse-42", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    client.force_login(user)
    target = _key()
    assert client.get(f"/api/keys/{target.pk}").status_code == 200
    refused = _patch(client, f"/api/keys/{target.pk}", {"daily_request_budget": 1})
    assert refused.status_code == 403 and "accounts.manage_api_keys" in refused.json()["error"]["message"]
    user.user_permissions.add(Permission.objects.get(codename="manage_api_keys"))
    user = django_user_model.objects.get(pk=user.pk)  # a fresh permission cache
    client.force_login(user)
    assert _patch(client, f"/api/keys/{target.pk}", {"daily_request_budget": 1}).status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("catalogue")
def test_the_admin_edits_a_keys_limits_and_refuses_an_unknown_model(admin_client):
    target = _key()
    url = f"/admin/accounts/apikey/{target.pk}/change/"
    form = {"name": "via admin", "is_admin": "", "rate_limit_per_minute": "", "allowed_models": '["gemini-2.5-pro"]',
            "expires_at_0": "", "expires_at_1": "", "daily_request_budget": "7", "daily_token_budget": "",
            "max_concurrent_requests": "2"}
    assert admin_client.post(url, form).status_code == 302
    target.refresh_from_db()
    assert (target.allowed_models, target.daily_request_budget, target.max_concurrent_requests) == (
        ["gemini-2.5-pro"], 7, 2)
    refused = admin_client.post(url, {**form, "allowed_models": '["gpt-9"]'})
    assert refused.status_code == 200 and "Unknown model id(s): gpt-9" in refused.content.decode()
