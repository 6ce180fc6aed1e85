"""Daily quotas per account and kind: counted from answers, skipped by the lease per kind, reset daily."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import lifecycle
from accounts.models import Account, AccountStatus, PoolSettings
from accounts.pool import lease_account, report_failure
from accounts.quotas import pool_quota_rest, quota_count_answer, quota_usage_today, request_kinds
from gemini_enterprise.errors import error_from_response
from gemini_enterprise.simulator.httperrors import quota_exhausted
from gempool_site.quota_day import quota_day

NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 12, 6, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _utc_days_and_fresh_counters(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "UTC", 0
    cache.clear()
    yield
    cache.clear()


def _stored(account: Account) -> Account:
    return Account.objects.get(pk=account.pk)


# ---- counting -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_answer_counts_one_text_and_each_generated_file_against_its_kind(make_account):
    account = make_account()
    pool = PoolSettings.load()
    quota_count_answer(account=account, pool=pool, mime_types=["image/png", "image/jpeg", "video/mp4"], now=NOON)
    quota_count_answer(account=account, pool=pool, mime_types=[], now=NOON)
    assert quota_usage_today([account.pk], now=NOON)[account.pk] == {"text": 2, "image": 2, "video": 1}
    assert quota_usage_today([account.pk], now=MIDNIGHT)[account.pk] == {"text": 0, "image": 0, "video": 0}


@pytest.mark.django_db
def test_the_answer_that_reaches_the_quota_rests_that_kind_until_the_reset(make_account):
    account = make_account()
    pool = PoolSettings.load()
    pool.daily_image_quota = 2
    pool.save()
    assert quota_count_answer(account=account, pool=pool, mime_types=["image/png"], now=NOON) == []
    assert quota_count_answer(account=account, pool=pool, mime_types=["image/png"], now=NOON) == ["image"]
    stored = _stored(account)
    assert stored.image_exhausted_until == MIDNIGHT and stored.text_exhausted_until is None
    assert stored.status == AccountStatus.ACTIVE and stored.cooldown_until is None  # the account is not resting


@pytest.mark.django_db
def test_an_account_override_beats_the_pool_and_zero_means_unlimited(make_account):
    pool = PoolSettings.load()
    pool.daily_text_quota = 1
    pool.save()
    unlimited, stricter = make_account(daily_text_quota=0), make_account(daily_image_quota=1)
    assert quota_count_answer(account=unlimited, pool=pool, mime_types=[], now=NOON) == []
    assert quota_count_answer(account=stricter, pool=pool, mime_types=["image/png"], now=NOON) == ["text", "image"]


# ---- the lease ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_lease_skips_an_exhausted_kind_but_still_leases_the_account_for_text(make_account):
    account = make_account()
    lifecycle.apply(account, lifecycle.quota_exhausted(kind="image", until=MIDNIGHT, now=NOON))
    assert lease_account(kinds=("text", "image"), now=NOON) is None
    assert lease_account(kinds=("text",), now=NOON).pk == account.pk
    assert lease_account(kinds=("text", "video"), now=NOON + timedelta(seconds=1)).pk == account.pk


@pytest.mark.django_db
def test_the_quota_reset_brings_the_kind_back_without_any_write(make_account):
    account = make_account()
    lifecycle.apply(account, lifecycle.quota_exhausted(kind="video", until=MIDNIGHT, now=NOON))
    assert lease_account(kinds=("text", "video"), now=MIDNIGHT - timedelta(microseconds=1)) is None
    assert lease_account(kinds=("text", "video"), now=MIDNIGHT).pk == account.pk


@pytest.mark.django_db
def test_the_lease_passes_an_exhausted_account_for_the_next_with_quota_left(make_account):
    exhausted, fresh = make_account(), make_account()
    lifecycle.apply(exhausted, lifecycle.quota_exhausted(kind="image", until=MIDNIGHT, now=NOON))
    assert lease_account(kinds=("text", "image"), now=NOON).pk == fresh.pk
    assert lease_account(kinds=("text", "image"), now=NOON + timedelta(seconds=1)).pk == fresh.pk  # again


@pytest.mark.django_db
def test_checking_the_kinds_adds_no_statement_to_the_lease(make_account):
    make_account()
    with CaptureQueriesContext(connection) as text_only:
        lease_account(kinds=("text",))
    with CaptureQueriesContext(connection) as every_kind:
        lease_account(kinds=("text", "image", "video"))
    assert len(every_kind.captured_queries) == len(text_only.captured_queries)
    assert any("image_exhausted_until" in query["sql"] for query in every_kind.captured_queries)


@pytest.mark.django_db
def test_request_kinds_follow_the_model(catalogue):
    kinds = {model.id: request_kinds(model) for model in catalogue}
    assert kinds["gemini-2.5-flash"] == ("text",)
    assert kinds["gemini-imagen"] == ("text", "image") and kinds["gemini-veo"] == ("text", "video")


# ---- the upstream's 429 naming a quota -----------------------------------------------------------


def test_a_429_naming_a_quota_carries_its_kind_and_a_plain_429_none():
    for kind in ("text", "image", "video"):
        assert error_from_response(429, quota_exhausted(kind)).quota_kind == kind
    overloaded = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Resource has been exhausted",
                            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                         "reason": "LLM_OVERLOADED"}]}}
    assert error_from_response(429, overloaded).quota_kind is None


@pytest.mark.django_db
def test_a_429_naming_the_image_quota_rests_only_images_until_the_reset(make_account):
    account = make_account()
    error = error_from_response(429, quota_exhausted("image"))
    assert report_failure(account=account, error=error, pool=PoolSettings.load(), now=NOON) == "quota_rest"
    stored = _stored(account)
    assert stored.image_exhausted_until == quota_day(NOON).ends_at == MIDNIGHT
    assert stored.status == AccountStatus.ACTIVE and stored.cooldown_until is None and stored.cooldown_streak == 0
    assert stored.last_error_kind == "rate_limited" and stored.failure_count == 1
    assert lease_account(kinds=("text",), now=NOON).pk == account.pk


@pytest.mark.django_db
def test_pool_quota_rest_says_how_many_accounts_wait_for_the_reset(make_account):
    for _ in range(2):
        lifecycle.apply(make_account(), lifecycle.quota_exhausted(kind="image", until=MIDNIGHT, now=NOON))
    make_account(enabled=False, status=AccountStatus.DISABLED, image_exhausted_until=MIDNIGHT)
    rest = pool_quota_rest(kinds=("text", "image"), now=NOON)
    assert (rest.resting, rest.soonest_reset) == (2, MIDNIGHT)
    assert pool_quota_rest(kinds=("text",), now=NOON).resting == 0


# ---- end to end through a chat --------------------------------------------------------------------


def _chat(client, raw: str, model: str):
    return client.post("/v1/chat/completions", data=json.dumps({
        "model": model, "messages": [{"role": "user", "content": "draw a cat"}]}),
        content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("catalogue", "upstream_settings")
def test_an_account_out_of_image_quota_still_serves_text_and_images_get_429_until_the_reset(
        client, api_key, pool_account):
    account = pool_account()
    pool = PoolSettings.load()
    pool.daily_image_quota = 1
    pool.save()
    assert _chat(client, api_key[1], "gemini-imagen").status_code == 200
    assert _stored(account).image_exhausted_until == quota_day().ends_at
    refused = _chat(client, api_key[1], "gemini-imagen")
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["code"] == "daily_quota_exhausted"
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert _chat(client, api_key[1], "gemini-2.5-flash").status_code == 200
    assert quota_usage_today([account.pk])[account.pk] == {"text": 2, "image": 1, "video": 0}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("catalogue", "upstream_settings")
def test_a_429_naming_the_image_quota_fails_over_and_the_account_keeps_serving_text(
        client, api_key, pool_account, sim):
    first, second = pool_account(), pool_account()  # the first is leased first (lowest id, never used)
    sim.add_fault("429_quota=image", csesidx=first.csesidx, count=1)
    assert _chat(client, api_key[1], "gemini-imagen").status_code == 200
    assert _stored(first).image_exhausted_until is not None and _stored(second).image_exhausted_until is None
    assert _stored(first).status == AccountStatus.ACTIVE
    served = {lease_account(kinds=("text",)).pk for _ in range(2)}
    assert first.pk in served
    assert lease_account(kinds=("text", "image"), now=timezone.now()).pk == second.pk


# ---- configuration: /api/config, /api/accounts, the config file ----------------------------------


@pytest.mark.django_db
def test_pool_quotas_are_read_and_written_through_api_config(staff_client):
    response = staff_client.put("/api/config", data=json.dumps({"daily_image_quota": 2, "daily_video_quota": 1}),
                                content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["daily_text_quota"], data["daily_image_quota"], data["daily_video_quota"]) == (0, 2, 1)
    assert data["quota_reset"]["hour"] == 0 and data["quota_reset"]["timezone"] == "UTC"
    bad = staff_client.put("/api/config", data=json.dumps({"daily_text_quota": -1}), content_type="application/json")
    assert bad.status_code == 400 and "daily_text_quota" in bad.json()["error"]["fields"]


@pytest.mark.django_db
def test_accounts_show_their_own_quotas_and_todays_use(staff_client, make_account):
    pool = PoolSettings.load()
    pool.daily_image_quota = 3
    pool.save()
    account = make_account()
    quota_count_answer(account=account, pool=pool, mime_types=["image/png"])
    response = staff_client.patch(f"/api/accounts/{account.pk}", data=json.dumps({"daily_text_quota": 50}),
                                  content_type="application/json")
    assert response.status_code == 200 and response.json()["daily_text_quota"] == 50
    listed = staff_client.get("/api/accounts").json()[0]
    assert listed["quota_today"] == {"text": {"used": 1, "quota": 50, "exhausted_until": None},
                                     "image": {"used": 1, "quota": 3, "exhausted_until": None},
                                     "video": {"used": 0, "quota": 0, "exhausted_until": None}}
    assert listed["daily_image_quota"] is None  # the pool's


@pytest.mark.django_db
def test_quotas_survive_export_import_export_byte_identical(tmp_path, make_account):
    import io

    from django.core.management import call_command

    pool = PoolSettings.load()
    pool.daily_text_quota, pool.daily_image_quota = 120, 2
    pool.save()
    make_account(daily_image_quota=5, daily_video_quota=0)
    make_account()  # no overrides: its row carries no daily_quotas, as older files
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    call_command("exportconfig", str(first), stderr=io.StringIO())
    document = json.loads(first.read_text())
    assert document["daily_quotas"] == {"text": 120, "image": 2, "video": 0}
    assert document["accounts"][0]["daily_quotas"] == {"image": 5, "video": 0}
    assert "daily_quotas" not in document["accounts"][1]
    Account.objects.all().delete()
    PoolSettings.objects.all().delete()
    call_command("importconfig", str(first), stdout=io.StringIO())
    call_command("exportconfig", str(second), stderr=io.StringIO())
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.django_db
def test_a_bad_quota_in_the_config_file_names_its_place(tmp_path):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"daily_quotas": {"image": "lots"}, "accounts": [
        {"team_id": "t", "secure_c_ses": "s", "csesidx": "1", "daily_quotas": {"text": -1}}]}))
    with pytest.raises(CommandError) as refused:
        call_command("importconfig", str(path), stdout=io.StringIO())
    assert "daily_quotas.image" in str(refused.value) and "accounts[0].daily_quotas.text" in str(refused.value)
