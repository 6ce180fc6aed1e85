"""The dashboard's numbers and the request log's retention."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.dashboard import dashboard_summary
from accounts.models import AccountStatus, RequestLog

pytestmark = pytest.mark.django_db


def log(account=None, *, ago: timedelta = timedelta(0), status: int = 200, kind: str = "") -> RequestLog:
    return RequestLog.objects.create(created_at=timezone.now() - ago, account=account, status_code=status,
                                     latency_ms=120, error_kind=kind, model="gemini-2.5-flash")


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


def test_requests_of_deleted_accounts_still_count(make_account):
    gone = make_account()
    log(gone)
    gone.delete()
    series = dashboard_summary()["series"]
    assert series[-1]["account_id"] is None and series[-1]["requests"][-1] == 1


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
