"""A finished request's rows: the log row, one row per attempt, the day's and the hour's usage; and the metrics."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import RequestLog
from metering import histogram, metrics
from metering.models import AttemptOutcome, RequestAttempt, UsageDay, UsageHour
from metering.records import AttemptRecord, RequestRecord, request_observe, request_record

pytestmark = pytest.mark.django_db
NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _record(accounts, *, key=None, status=200, error="", model="gemini-2.5-flash", **extra) -> RequestRecord:
    last = len(accounts) - 1  # every attempt but the last was rate-limited; the last answered (unless `error`)
    attempts = tuple(AttemptRecord(account_id=a.pk, started_at=NOON, latency_ms=50 + i,
                                   outcome=AttemptOutcome.OK if i == last and not error else AttemptOutcome.ERROR,
                                   error_kind="" if i == last else "rate_limited")
                     for i, a in enumerate(accounts))
    return RequestRecord(endpoint="chat", model=model, stream=False, status_code=status, latency_ms=200,
                         request_id="r", account_id=accounts[-1].pk if accounts and not error else None,
                         api_key_id=key.pk if key else None, key_name=key.name if key else "", error_kind=error,
                         prompt_tokens=10, completion_tokens=5, attachments=1, attempts=attempts, **extra)


def test_a_failed_over_request_writes_one_row_per_attempt_in_four_statements(make_account, api_key):
    first, second = make_account(), make_account()
    with CaptureQueriesContext(connection) as captured:
        log_id = request_record(_record([first, second], key=api_key[0]), now=NOON)
    assert len(captured.captured_queries) == 4  # log row (RETURNING id), attempts, daily and hourly upserts
    rows = list(RequestAttempt.objects.filter(request_id=log_id).order_by("id"))
    assert [(r.account_id, r.outcome, r.error_kind, r.latency_ms) for r in rows] == [
        (first.pk, "error", "rate_limited", 50), (second.pk, "ok", "", 51)]
    log = RequestLog.objects.get(pk=log_id)
    assert (log.account_id, log.attempts, log.prompt_tokens, log.completion_tokens, log.attachments) == (
        second.pk, 2, 10, 5, 1)


def test_usage_adds_up_per_day_key_and_model(make_account, api_key):
    account = make_account()
    for _ in range(3):
        request_record(_record([account], key=api_key[0]), now=NOON)
    request_record(_record([account], key=api_key[0], status=502, error="upstream_error"), now=NOON)
    request_record(_record([account], key=api_key[0]), now=NOON + timedelta(days=1))
    request_record(_record([account]), now=NOON)  # no key
    today = UsageDay.objects.get(day=NOON.date(), api_key_id=api_key[0].pk)
    assert (today.requests, today.errors, today.prompt_tokens, today.completion_tokens, today.attachments,
            today.latency_ms_total) == (4, 1, 40, 20, 4, 800)
    assert UsageDay.objects.get(day=NOON.date(), api_key_id=0).requests == 1
    assert UsageDay.objects.get(day=(NOON + timedelta(days=1)).date()).requests == 1


def test_the_usage_upsert_is_one_atomic_statement_per_request(make_account, api_key):
    account = make_account()
    request_record(_record([account], key=api_key[0]), now=NOON)
    with CaptureQueriesContext(connection) as captured:
        request_record(_record([account], key=api_key[0]), now=NOON)
    upserts = [q["sql"] for q in captured.captured_queries if "metering_usageday" in q["sql"]]
    assert len(upserts) == 1 and "ON CONFLICT" in upserts[0]


def test_attempts_are_deleted_with_their_request(make_account):
    account = make_account()
    log_id = request_record(_record([account]), now=NOON)
    RequestLog.objects.filter(pk=log_id).delete()
    assert not RequestAttempt.objects.exists()


def test_the_metrics_count_the_same_attempts(make_account, api_key):
    first, second = make_account(), make_account()

    def value(counter, **labels):
        return counter.labels(**labels)._value.get()

    before = (value(metrics.UPSTREAM_ATTEMPTS, account=str(first.pk), outcome="error"),
              value(metrics.UPSTREAM_ERRORS, account=str(first.pk), kind="rate_limited"),
              value(metrics.UPSTREAM_ATTEMPTS, account=str(second.pk), outcome="ok"))
    request_observe(_record([first, second], key=api_key[0], ttft_ms=120))
    after = (value(metrics.UPSTREAM_ATTEMPTS, account=str(first.pk), outcome="error"),
             value(metrics.UPSTREAM_ERRORS, account=str(first.pk), kind="rate_limited"),
             value(metrics.UPSTREAM_ATTEMPTS, account=str(second.pk), outcome="ok"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


def _hour_row(key_id: int = 0, model: str = "gemini-2.5-flash", hour: datetime = NOON) -> UsageHour:
    return UsageHour.objects.get(hour=hour, api_key_id=key_id, model=model)


def _buckets(row: UsageHour, columns: tuple[str, ...]) -> dict[str, int]:
    return {name: getattr(row, name) for name in columns if getattr(row, name)}


def test_a_request_lands_in_its_hour_and_in_one_latency_and_one_ttft_bucket(make_account, api_key):
    request_record(_record([make_account()], key=api_key[0], ttft_ms=120), now=NOON + timedelta(minutes=59))
    row = _hour_row(api_key[0].pk)
    assert (row.requests, row.errors, row.latency_ms_total) == (1, 0, 200)
    # latency 200 ms: the bucket (100, 200]; first token after 120 ms: the bucket (100, 200] as well
    assert _buckets(row, histogram.LATENCY_COLUMNS) == {"latency_b02": 1}
    assert _buckets(row, histogram.TTFT_COLUMNS) == {"ttft_b02": 1}


def test_the_hourly_upsert_accumulates_and_a_request_without_a_first_token_counts_no_ttft(make_account):
    account = make_account()
    request_record(_record([account], ttft_ms=40), now=NOON)
    request_record(_record([account], status=502, error="upstream_error"), now=NOON + timedelta(minutes=30))
    request_record(_record([account]), now=NOON + timedelta(hours=1))  # the next hour: a row of its own
    row = _hour_row()
    assert (row.requests, row.errors, row.latency_ms_total) == (2, 1, 400)
    assert _buckets(row, histogram.LATENCY_COLUMNS) == {"latency_b02": 2}
    assert _buckets(row, histogram.TTFT_COLUMNS) == {"ttft_b00": 1}
    assert _hour_row(hour=NOON + timedelta(hours=1)).requests == 1


def test_the_hourly_upsert_is_one_statement_naming_two_bucket_columns(make_account):
    account = make_account()
    request_record(_record([account], ttft_ms=9000), now=NOON)
    with CaptureQueriesContext(connection) as captured:
        request_record(_record([account], ttft_ms=9000), now=NOON)
    upserts = [q["sql"] for q in captured.captured_queries if "metering_usagehour" in q["sql"]]
    assert len(upserts) == 1 and "ON CONFLICT" in upserts[0]
    named = [c for c in (*histogram.LATENCY_COLUMNS, *histogram.TTFT_COLUMNS) if c in upserts[0]]
    assert named == ["latency_b02", "ttft_b12"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_lose_no_count_in_the_hourly_rollup(make_account):
    account = make_account()
    record = _record([account], ttft_ms=700)

    def write(_) -> None:
        try:
            for _ in range(10):
                with transaction.atomic():
                    request_record(record, now=NOON)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(write, range(8)))
    row = _hour_row()
    assert (row.requests, row.latency_b02, row.ttft_b05) == (80, 80, 80)
    assert UsageDay.objects.get(day=NOON.date(), api_key_id=0).requests == 80
