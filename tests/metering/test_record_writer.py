"""Finished requests' bookkeeping written in batches (metering.record_writer, GEMPOOL_RECORD_BATCH_SECONDS)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Account, RequestLog
from metering import record_writer
from metering.models import AttemptOutcome, RequestAttempt, UsageDay, UsageHour
from metering.record_writer import RecordWriter, request_finished
from metering.records import AttemptRecord, RequestRecord, request_record, requests_record
from tests.polling import success_count, wait_until

pytestmark = pytest.mark.django_db(transaction=True)  # the writer's thread has a connection of its own
NOON = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_batch_left_behind():
    yield
    record_writer.close()  # a test's pending rows must not land in the next test's database


def _record(n: int, *, account=None, key=None, model="gemini-2.5-flash", status=200, error="", ttft=None,
            attempts=1) -> RequestRecord:
    tried = tuple(AttemptRecord(account_id=account.pk, started_at=NOON, latency_ms=40 + n + i,
                                outcome=AttemptOutcome.OK if i == attempts - 1 and not error else AttemptOutcome.ERROR,
                                error_kind="" if i == attempts - 1 and not error else "rate_limited")
                  for i in range(attempts)) if account else ()
    return RequestRecord(endpoint="chat", model=model, stream=ttft is not None, status_code=status,
                         latency_ms=100 * n + 7, request_id=f"req{n}", account_id=account.pk if account else None,
                         api_key_id=key.pk if key else None, key_name=key.name if key else "", error_kind=error,
                         prompt_tokens=n, completion_tokens=2 * n, attachments=n % 2, ttft_ms=ttft, attempts=tried)


def _stored() -> dict:
    """Everything the bookkeeping wrote, without the ids the database chose."""
    return {
        "log": sorted(RequestLog.objects.values_list(
            "request_id", "created_at", "account_id", "api_key_id", "model", "stream", "status_code", "latency_ms",
            "attempts", "error_kind", "prompt_tokens", "completion_tokens", "attachments", "ttft_ms")),
        "attempts": sorted(RequestAttempt.objects.values_list(
            "request__request_id", "account_id", "latency_ms", "outcome", "error_kind")),
        "days": sorted(UsageDay.objects.values_list(
            "day", "api_key_id", "model", "requests", "errors", "prompt_tokens", "completion_tokens", "attachments",
            "latency_ms_total")),
        "hours": sorted(sorted((name, value) for name, value in row.items() if name != "id")
                        for row in UsageHour.objects.values()),
    }


def _mixed_requests(make_account, api_key) -> list[tuple[RequestRecord, datetime]]:
    account, other = make_account(), make_account()
    key = api_key[0]
    return [
        (_record(1, account=account, key=key), NOON),
        (_record(2, account=account, key=key, ttft=350), NOON + timedelta(minutes=5)),
        (_record(3, account=other, key=key, model="gemini-2.5-pro", attempts=2), NOON + timedelta(minutes=9)),
        (_record(4, account=other, status=502, error="upstream_error"), NOON + timedelta(minutes=50)),
        (_record(5), NOON + timedelta(hours=1, minutes=1)),  # failed before any attempt, in the next hour
        (_record(6, account=account, key=key, ttft=20_000), NOON + timedelta(days=1)),
    ]


def test_a_batch_writes_exactly_what_writing_each_request_as_it_ended_writes(make_account, api_key):
    finished = _mixed_requests(make_account, api_key)
    for record, at in finished:
        request_record(record, now=at)
    one_by_one = _stored()
    RequestLog.objects.all().delete()
    UsageDay.objects.all().delete()
    UsageHour.objects.all().delete()

    requests_record(finished)
    assert _stored() == one_by_one
    assert len(one_by_one["log"]) == 6 and len(one_by_one["attempts"]) == 6


def _answered(settings, make_account, *, interval: float, count: int) -> tuple[Account, int]:
    """`count` requests answered by one account, with batches every `interval` seconds; the account and its
    success count before them."""
    settings.GEMPOOL_RECORD_BATCH_SECONDS = interval
    account = make_account()
    before = success_count(account)
    for n in range(count):
        request_finished(_record(n, account=account), answered_by=account)
    return account, before


def test_the_writer_writes_its_batch_within_its_interval_with_the_accounts_successes(settings, make_account):
    account, before = _answered(settings, make_account, interval=0.05, count=3)
    assert wait_until(lambda: RequestLog.objects.count() == 3, timeout=10) is not None
    assert wait_until(lambda: success_count(account) == before + 3, timeout=5) is not None


def test_nothing_is_written_before_the_interval_and_all_of_it_on_close(settings, make_account):
    account, before = _answered(settings, make_account, interval=60, count=4)
    assert RequestLog.objects.count() == 0 and success_count(account) == before

    record_writer.close()  # what gunicorn's worker_exit does on a clean shutdown
    assert RequestLog.objects.count() == 4 and success_count(account) == before + 4


def test_a_changed_interval_replaces_the_writer_after_it_wrote_what_it_held(settings, make_account):
    account, _ = _answered(settings, make_account, interval=30, count=1)
    settings.GEMPOOL_RECORD_BATCH_SECONDS = 60
    request_finished(_record(1, account=account), answered_by=account)
    assert record_writer._process_writer().interval == 60
    assert list(RequestLog.objects.values_list("request_id", flat=True)) == ["req0"]  # the old writer's


def test_a_success_that_ends_a_failure_streak_is_written_at_once(settings, make_account):
    settings.GEMPOOL_RECORD_BATCH_SECONDS = 60
    account = make_account()
    Account.objects.filter(pk=account.pk).update(consecutive_failures=2, cooldown_streak=1)
    leased = Account.objects.get(pk=account.pk)  # as the lease handed it out

    request_finished(_record(1, account=leased), answered_by=leased)
    stored = Account.objects.get(pk=account.pk)
    assert (stored.consecutive_failures, stored.cooldown_streak) == (0, 0)
    assert stored.success_count == account.success_count + 1
    assert RequestLog.objects.filter(request_id="req1").exists()


def test_a_batched_success_leaves_a_failure_recorded_after_the_lease_alone(settings, make_account):
    settings.GEMPOOL_RECORD_BATCH_SECONDS = 60
    account = make_account()
    request_finished(_record(1, account=account), answered_by=account)  # its lease saw no streak
    Account.objects.filter(pk=account.pk).update(consecutive_failures=1)  # another request failed meanwhile
    record_writer.flush_pending()
    stored = Account.objects.get(pk=account.pk)
    assert stored.consecutive_failures == 1 and stored.success_count == account.success_count + 1


def test_a_batch_the_database_refused_is_written_by_the_next_flush(monkeypatch, make_account):
    account = make_account()
    writer = RecordWriter(interval=60)
    real = record_writer.requests_record
    refusals = []

    def refuse_once(finished):
        if not refusals:
            refusals.append(len(finished))
            raise RuntimeError("database is locked")
        return real(finished)

    monkeypatch.setattr(record_writer, "requests_record", refuse_once)
    writer.add(_record(1, account=account), counted_success=account.pk, at=NOON)
    writer.add(_record(2, account=account), counted_success=account.pk, at=NOON)
    assert writer.flush() == 0 and writer.pending() == 2
    writer.add(_record(3, account=account), counted_success=account.pk, at=NOON)
    assert writer.flush() == 3 and writer.pending() == 0
    assert refusals == [2]
    assert sorted(RequestLog.objects.values_list("request_id", flat=True)) == ["req1", "req2", "req3"]
    assert success_count(account) == account.success_count + 3
    writer.close()


def test_zero_seconds_writes_each_request_as_it_ends(settings, make_account):
    settings.GEMPOOL_RECORD_BATCH_SECONDS = 0
    account = make_account()
    request_finished(_record(1, account=account), answered_by=account)
    assert RequestLog.objects.filter(request_id="req1").exists()
    assert success_count(account) == account.success_count + 1


@pytest.mark.slow
@pytest.mark.usefixtures("catalogue")
def test_a_gunicorn_worker_stopped_cleanly_writes_the_bookkeeping_it_held(sim, pool_account, api_key):
    import http.client
    import json

    from django.conf import settings as django_settings
    from django.db import connection

    from tests.gateway_process import GatewayProcess, database_url

    account = pool_account()
    gateway = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=sim.url,
                             data_dir=str(django_settings.DATA_DIR), secret_key=django_settings.SECRET_KEY,
                             extra_env={"GEMPOOL_RECORD_BATCH_SECONDS": "60"}).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
        for stream in (False, True):
            conn.request("POST", "/v1/chat/completions", headers={
                "Authorization": f"Bearer {api_key[1]}", "Content-Type": "application/json"},
                body=json.dumps({"model": "gemini-2.5-flash", "stream": stream,
                                 "messages": [{"role": "user", "content": "hello"}]}))
            response = conn.getresponse()
            assert response.status == 200, response.read()
            response.read()
        conn.close()
        assert RequestLog.objects.count() == 0  # held by the worker for up to a minute
    finally:
        gateway.stop()  # SIGTERM: gunicorn stops its worker gracefully, and worker_exit writes the batch
    assert sorted(RequestLog.objects.values_list("stream", "status_code")) == [(False, 200), (True, 200)]
    assert success_count(account) == account.success_count + 2
