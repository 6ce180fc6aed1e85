"""The dashboard's range view: /api/dashboard/series from the request log (1 h, 6 h) and the hourly rollup
(24 h, 7 d, 30 d), with filters, groupings, estimated percentiles, validation, protection and query counts."""
from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import RequestLog
from accounts.services import api_key_create
from metering import histogram
from metering.models import UsageHour
from metering.records import RequestRecord, request_record
from metering.series import SeriesQuery, dashboard_series

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 5, 12, 40, tzinfo=UTC)


def rollup(hour: datetime, *, key: int = 0, model: str = "gemini-2.5-flash", requests: int = 1, errors: int = 0,
           latency_ms: int = 200, ttft_ms: int | None = None) -> None:
    """An hourly-rollup row: all its requests in the latency bucket of `latency_ms` (and TTFT of `ttft_ms`)."""
    buckets = {histogram.LATENCY_COLUMNS[histogram.bucket_index(latency_ms)]: requests}
    if ttft_ms is not None:
        buckets[histogram.TTFT_COLUMNS[histogram.bucket_index(ttft_ms)]] = requests
    UsageHour.objects.create(hour=hour.replace(minute=0, second=0, microsecond=0), api_key_id=key, model=model,
                             requests=requests, errors=errors, latency_ms_total=latency_ms * requests, **buckets)


def logged(at: datetime, *, latency_ms: int = 200, ttft_ms: int | None = None, status: int = 200, key=None,
           model: str = "gemini-2.5-flash") -> None:
    RequestLog.objects.create(created_at=at, status_code=status, latency_ms=latency_ms, ttft_ms=ttft_ms,
                              api_key=key, model=model, error_kind="upstream_error" if status >= 400 else "")


def test_a_day_comes_from_the_hourly_rollup_in_hourly_slots():
    rollup(NOW, requests=3, errors=1, latency_ms=150, ttft_ms=80)
    rollup(NOW - timedelta(hours=5), model="gemini-2.5-pro", requests=2, latency_ms=4000)
    rollup(NOW - timedelta(hours=24))  # the hour before the first slot
    report = dashboard_series(query=SeriesQuery(range="24h"), now=NOW)
    assert (report["source"], report["slot_seconds"], len(report["slots"])) == ("hourly_rollup", 3600, 24)
    assert report["slots"][-1] == datetime(2026, 12, 5, 12, tzinfo=UTC) and report["to"] == NOW
    (series,) = report["series"]
    assert series["requests"][-1] == 3 and series["errors"][-1] == 1 and series["requests"][-6] == 2
    assert sum(series["requests"]) == 5
    assert series["latency_ms"]["p50"][-1] == 150 and series["latency_ms"]["p50"][0] is None
    assert series["ttft_ms"]["p50"][-1] == 75  # three first tokens in (50, 100] ms: the middle one at 75
    totals = report["totals"]
    assert (totals["requests"], totals["errors"], totals["error_rate"]) == (5, 1, 0.2)
    assert totals["latency_ms"]["p99"] == 3000 + round(2000 * (4.95 - 3) / 2)
    assert [m["model"] for m in report["by_model"]] == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert report["models"] == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert "estimates" in report["percentiles"]


def test_seven_and_thirty_days_sum_the_rollup_into_wider_slots():
    rollup(NOW - timedelta(days=3), requests=4)
    rollup(NOW - timedelta(days=20), requests=6)  # long past the request log's retention
    week = dashboard_series(query=SeriesQuery(range="7d"), now=NOW)
    month = dashboard_series(query=SeriesQuery(range="30d"), now=NOW)
    assert (len(week["slots"]), week["slot_seconds"], week["totals"]["requests"]) == (56, 3 * 3600, 4)
    assert (len(month["slots"]), month["slot_seconds"], month["totals"]["requests"]) == (60, 12 * 3600, 10)
    assert month["slots"][-1] == datetime(2026, 12, 5, 12, tzinfo=UTC)
    assert month["slots"][0] == datetime(2026, 11, 6, 0, tzinfo=UTC)


def test_an_hour_comes_from_the_request_log_per_minute():
    logged(NOW, latency_ms=900, ttft_ms=300)
    logged(NOW - timedelta(minutes=10), latency_ms=120, status=502)
    logged(NOW - timedelta(hours=2))  # outside the hour
    report = dashboard_series(query=SeriesQuery(range="1h"), now=NOW)
    assert (report["source"], report["slot_seconds"], len(report["slots"])) == ("request_log", 60, 60)
    (series,) = report["series"]
    assert series["requests"][-1] == 1 and series["requests"][-11] == 1 and series["errors"][-11] == 1
    assert series["latency_ms"]["p50"][-1] == 875  # the middle of (750, 1000]
    assert series["ttft_ms"]["p50"][-1] == 250 and series["ttft_ms"]["p50"][-11] is None
    assert (report["totals"]["requests"], report["totals"]["errors"]) == (2, 1)


def test_six_hours_use_five_minute_slots():
    logged(NOW - timedelta(hours=5, minutes=50))
    report = dashboard_series(query=SeriesQuery(range="6h"), now=NOW)
    assert (len(report["slots"]), report["slot_seconds"], report["totals"]["requests"]) == (72, 300, 1)


def test_the_request_log_and_the_rollup_give_the_same_figures():
    key, _ = api_key_create(name="ops")
    for latency, ttft, status in ((120, 60, 200), (800, 400, 200), (2500, None, 502), (40, 20, 200)):
        request_record(RequestRecord(endpoint="chat", model="gemini-2.5-flash", stream=ttft is not None,
                                     status_code=status, latency_ms=latency, request_id="r", account_id=None,
                                     api_key_id=key.pk, key_name="ops", ttft_ms=ttft), now=NOW)
    from_log = dashboard_series(query=SeriesQuery(range="6h"), now=NOW)["totals"]
    from_rollup = dashboard_series(query=SeriesQuery(range="24h"), now=NOW)["totals"]
    assert from_log == from_rollup and from_log["requests"] == 4 and from_log["ttft_ms"]["p50"] is not None


def test_filters_narrow_the_series_and_the_tables_but_not_the_lists_for_the_selects():
    ops, _ = api_key_create(name="ops")
    rollup(NOW, key=ops.pk, requests=2)
    rollup(NOW, key=0, model="gemini-2.5-pro", requests=5)
    rollup(NOW, key=777, requests=1)  # a deleted key's history
    report = dashboard_series(query=SeriesQuery(range="24h", key_id=ops.pk), now=NOW)
    assert report["totals"]["requests"] == 2 and sum(report["series"][0]["requests"]) == 2
    assert [k["key"] for k in report["by_key"]] == [{"id": ops.pk, "name": "ops"}]
    assert report["keys"] == [{"id": 777, "name": "(deleted key #777)"}, {"id": 0, "name": "(no key)"},
                              {"id": ops.pk, "name": "ops"}]
    assert report["models"] == ["gemini-2.5-flash", "gemini-2.5-pro"]
    without_key = dashboard_series(query=SeriesQuery(range="24h", key_id=0), now=NOW)
    assert without_key["totals"]["requests"] == 5
    by_model = dashboard_series(query=SeriesQuery(range="24h", model="gemini-2.5-flash"), now=NOW)
    assert by_model["totals"]["requests"] == 3 and len(by_model["by_key"]) == 2


def test_a_key_filter_on_the_request_log_takes_zero_as_requests_without_a_key():
    ops, _ = api_key_create(name="ops")
    logged(NOW, key=ops), logged(NOW), logged(NOW)
    assert dashboard_series(query=SeriesQuery(range="1h", key_id=0), now=NOW)["totals"]["requests"] == 2
    assert dashboard_series(query=SeriesQuery(range="1h", key_id=ops.pk), now=NOW)["totals"]["requests"] == 1


@pytest.mark.parametrize("source_range", ["1h", "24h"])
def test_grouping_gives_one_series_per_model_or_key_busiest_first(source_range):
    ops, _ = api_key_create(name="ops")
    for model, key, count in (("gemini-2.5-pro", ops, 1), ("gemini-2.5-flash", None, 3)):
        rollup(NOW, key=key.pk if key else 0, model=model, requests=count)
        for _ in range(count):
            logged(NOW, key=key, model=model)
    per_model = dashboard_series(query=SeriesQuery(range=source_range, group="model"), now=NOW)["series"]
    assert [(s["id"], s["name"], sum(s["requests"])) for s in per_model] == [
        ("gemini-2.5-flash", "gemini-2.5-flash", 3), ("gemini-2.5-pro", "gemini-2.5-pro", 1)]
    per_key = dashboard_series(query=SeriesQuery(range=source_range, group="key"), now=NOW)["series"]
    assert [(s["id"], s["name"], sum(s["requests"])) for s in per_key] == [(0, "(no key)", 3), (ops.pk, "ops", 1)]


def test_an_empty_range_has_one_empty_series_and_no_percentiles():
    report = dashboard_series(query=SeriesQuery(range="30d"), now=NOW)
    assert report["totals"] == {"requests": 0, "errors": 0, "error_rate": None,
                                "latency_ms": {"p50": None, "p95": None, "p99": None},
                                "ttft_ms": {"p50": None, "p95": None, "p99": None}}
    assert [sum(s["requests"]) for s in report["series"]] == [0] and report["by_model"] == []


@pytest.mark.parametrize("range_", ["1h", "6h", "24h", "7d", "30d"])
@pytest.mark.parametrize("group", ["none", "model", "key"])
def test_every_range_takes_five_queries_whatever_the_data(range_, group, django_assert_num_queries):
    keys = [api_key_create(name=f"k{i}")[0] for i in range(3)]
    for hours in range(0, 24 * 30, 7):
        for key in keys:
            rollup(timezone.now() - timedelta(hours=hours), key=key.pk, model=f"m{hours % 3}")
    for minutes in range(0, 360, 7):
        logged(timezone.now() - timedelta(minutes=minutes), key=keys[minutes % 3], model=f"m{minutes % 3}")
    # the series, per model, per key, the models and keys seen, the keys' names
    with django_assert_num_queries(5):
        report = dashboard_series(query=SeriesQuery(range=range_, group=group))
    assert report["totals"]["requests"] > 0


def test_the_api_serves_a_range_with_filters(staff_client):
    ops, _ = api_key_create(name="ops")
    rollup(timezone.now(), key=ops.pk, model="gemini-2.5-pro", requests=2)
    rollup(timezone.now(), requests=1)
    data = staff_client.get("/api/dashboard/series", {"range": "7d", "model": "gemini-2.5-pro",
                                                      "key": str(ops.pk), "group": "key"}).json()
    assert (data["range"], data["group"], data["totals"]["requests"]) == ("7d", "key", 2)
    assert data["series"][0]["name"] == "ops" and len(data["slots"]) == 56
    assert staff_client.get("/api/dashboard/series").json()["range"] == "24h"


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"range": "2h"}, "range", 'Unknown range "2h"; use one of 1h, 6h, 24h, 7d, 30d.'),
    ({"key": "ops"}, "key", "An API key id is a whole number (0: requests without a key)."),
    ({"key": "-1"}, "key", "An API key id is a whole number (0: requests without a key)."),
    ({"group": "account"}, "group", 'Unknown group "account"; use one of none, model, key.'),
])
def test_bad_parameters_get_a_json_400_that_says_what_to_send(staff_client, params, field, message):
    response = staff_client.get("/api/dashboard/series", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {field: [message]} and error["param"] == field


def test_the_series_needs_the_dashboards_permission(client, django_user_model, api_key, admin_key):
    assert client.get("/api/dashboard/series").status_code in (401, 403)
    assert client.get("/api/dashboard/series", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code == 403
    assert client.get("/api/dashboard/series", HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}").status_code == 200
    user = django_user_model.objects.create_user(username="viewer", password="pw-12345-long", is_staff=True)
    client.force_login(user)
    refused = client.get("/api/dashboard/series")
    assert refused.status_code == 403 and "view_account" in refused.json()["error"]["message"]
    user.user_permissions.add(Permission.objects.get(codename="view_account"))
    assert client.get("/api/dashboard/series").status_code == 200


def test_the_upgrade_fills_the_hourly_rollup_from_the_request_log():
    from django.apps import apps

    backfill = importlib.import_module("metering.migrations.0003_usagehour_backfill_from_request_log").backfill
    ops, _ = api_key_create(name="ops")
    now = timezone.now()
    logged(now, latency_ms=120, ttft_ms=60, key=ops), logged(now, latency_ms=2500, status=502)
    logged(now - timedelta(hours=3), latency_ms=40, model="gemini-2.5-pro")
    backfill(apps, None)
    assert UsageHour.objects.count() == 3
    from_log = dashboard_series(query=SeriesQuery(range="6h"))
    from_rollup = dashboard_series(query=SeriesQuery(range="24h"))
    assert from_rollup["totals"] == from_log["totals"] and from_rollup["totals"]["requests"] == 3
    assert from_rollup["by_key"] == from_log["by_key"]
    assert UsageHour.objects.get(api_key_id=ops.pk).latency_ms_total == 120
