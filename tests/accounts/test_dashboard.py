"""The dashboard's numbers and the request log's retention."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.dashboard import dashboard_summary
from accounts.models import AccountStatus, RequestLog
from metering.models import AttemptOutcome, RequestAttempt

pytestmark = pytest.mark.django_db


def log(account=None, *, ago: timedelta = timedelta(0), status: int = 200, kind: str = "") -> RequestLog:
    """A request and, when it had an account, that account's one attempt (failed when `kind` says so)."""
    at = timezone.now() - ago
    row = RequestLog.objects.create(created_at=at, account=account, status_code=status, latency_ms=120,
                                    error_kind=kind, model="gemini-2.5-flash")
    if account is not None:
        RequestAttempt.objects.create(request=row, account=account, started_at=at, latency_ms=100,
                                      outcome=AttemptOutcome.ERROR if kind else AttemptOutcome.OK, error_kind=kind)
    return row


def test_the_summary_buckets_requests_and_errors_per_account_per_hour(make_account):
    a, b = make_account(), make_account(status=AccountStatus.NEEDS_LOGIN)
    log(a), log(a, status=429, kind="rate_limited"), log(a, ago=timedelta(hours=3))
    log(b, ago=timedelta(hours=1), status=503, kind="unavailable")
    log(a, ago=timedelta(hours=30))  # outside the window
    summary = dashboard_summary()
    series = {s["account_id"]: s for s in summary["series"]}
    assert len(summary["hours"]) == 24 and summary["hours"][-1] <= timezone.now()
    assert series[a.pk]["requests"][-1] == 2 and series[a.pk]["errors"][-1] == 1
    assert series[a.pk]["requests"][-4] == 1 and sum(series[a.pk]["requests"]) == 3
    assert series[b.pk]["errors"][-2] == 1 and series[b.pk]["status"] == "needs_login"
    assert summary["accounts"]["needs_login"] == 1 and summary["accounts"]["total"] == 2
    assert [e["error_kind"] for e in summary["recent_errors"]] == ["rate_limited", "unavailable"]


def test_identical_recent_errors_are_one_line_with_their_count_accounts_and_models(make_account):
    a, b = make_account(label="seat a"), make_account(label="seat b")
    for account in (a, b, a):
        log(account, status=429, kind="all_accounts_cooling_down")
    log(b, status=502, kind="upstream_error", ago=timedelta(minutes=5))
    errors = dashboard_summary()["recent_errors"]
    assert [(e["status_code"], e["error_kind"], e["count"]) for e in errors] == [
        (429, "all_accounts_cooling_down", 3), (502, "upstream_error", 1)]
    assert errors[0]["accounts"] == ["seat a", "seat b"] and errors[0]["models"] == ["gemini-2.5-flash"]
    assert errors[0]["first_at"] <= errors[0]["at"]


def test_requests_of_deleted_accounts_still_count(make_account):
    gone = make_account()
    log(gone)
    gone.delete()
    series = dashboard_summary()["series"]
    assert series[-1]["account_id"] is None and series[-1]["requests"][-1] == 1
    assert series[-1]["label"] == "(deleted account)"


def test_the_all_accounts_totals_count_requests_and_each_account_its_own_attempts(make_account):
    a, b = make_account(), make_account()
    failed_over = log(b)  # a request that a rate-limited, then b answered
    RequestAttempt.objects.create(request=failed_over, account=a, started_at=timezone.now(), latency_ms=30,
                                  outcome=AttemptOutcome.ERROR, error_kind="rate_limited")
    log(status=429, kind="all_accounts_cooling_down")  # no account was tried: no seat's error
    summary = dashboard_summary()
    series = {s["account_id"]: s for s in summary["series"]}
    assert summary["totals"]["requests"][-1] == 2 and summary["totals"]["errors"][-1] == 1
    assert (series[a.pk]["requests"][-1], series[a.pk]["errors"][-1], series[a.pk]["latency_ms_avg"]) == (1, 1, 30)
    assert (series[b.pk]["requests"][-1], series[b.pk]["errors"][-1], series[b.pk]["latency_ms_avg"]) == (1, 0, 100)
    assert None not in series


def test_the_api_serves_the_summary_with_the_proxy_state(staff_client, make_account):
    log(make_account(), status=500, kind="unavailable")
    data = staff_client.get("/api/dashboard").json()
    assert data["recent_errors"][0]["status_code"] == 500
    assert set(data["proxy"]) >= {"proxy", "in_use", "last_test"}


def test_prunelogs_deletes_request_logs_older_than_its_days(settings):
    log(ago=timedelta(days=3)), log()
    out = io.StringIO()
    call_command("prunelogs", "--days", "2", stdout=out)
    assert "Deleted 1" in out.getvalue() and RequestLog.objects.count() == 1


def test_a_stream_that_broke_after_its_first_byte_counts_as_an_error(make_account):
    account = make_account()
    log(account, status=200, kind="unavailable")
    series = {s["account_id"]: s for s in dashboard_summary()["series"]}
    assert series[account.pk]["errors"][-1] == 1


def test_pruning_takes_old_requests_with_their_attempts(make_account, settings):
    from accounts.dashboard import request_log_prune

    account = make_account()
    old, recent = log(account, ago=timedelta(days=9)), log(account, ago=timedelta(days=1))
    assert request_log_prune(days=7) == 1
    assert list(RequestLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert list(RequestAttempt.objects.values_list("request_id", flat=True)) == [recent.pk]
    assert old.pk not in RequestAttempt.objects.values_list("request_id", flat=True)
