"""/metrics: Prometheus text, protected like /api by default."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.metering.scrape import samples, total

pytestmark = pytest.mark.django_db


def test_metrics_refuse_anonymous_callers_and_chat_keys(client, api_key):
    assert client.get("/metrics").status_code in (401, 403)
    refused = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert refused.status_code == 403 and refused.json()["error"]["message"]


def test_an_admin_key_gets_prometheus_text(client, admin_key, make_account):
    make_account(), make_account(enabled=False)
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}",
                          HTTP_ACCEPT="text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert total(text, "gempool_accounts", state="active") == 1
    assert total(text, "gempool_accounts", state="disabled") == 1
    assert len([s for s in samples(text) if s[0] == "gempool_account_info"]) == 2


def test_a_staff_session_gets_it_and_requests_are_counted_by_route(staff_client):
    first = staff_client.get("/metrics").content.decode()
    staff_client.get("/api/accounts")
    staff_client.get("/no/such/page/42")
    text = staff_client.get("/metrics").content.decode()
    grew = total(text, "gempool_http_requests_total", route="/api/accounts", status="200") - total(
        first, "gempool_http_requests_total", route="/api/accounts", status="200")
    assert grew == 1
    assert total(text, "gempool_http_requests_total", route="unmatched") >= 1
    assert not [s for s in samples(text) if "42" in s[1].get("route", "")]  # patterns, never raw paths


def test_rate_limit_rejections_are_counted_by_key(client, settings, throttle_window_stands_still):
    from metering import metrics

    before = metrics.RATE_LIMIT_REJECTIONS.labels(limit="requests_per_minute", key="throttled")._value.get()
    from accounts.services import api_key_create

    _, raw = api_key_create(name="throttled", rate_limit_per_minute=1)
    cache.clear()  # a key id an earlier test used may still have a count in this window
    for _ in range(3):
        response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 429
    after = metrics.RATE_LIMIT_REJECTIONS.labels(limit="requests_per_minute", key="throttled")._value.get()
    assert after - before == 2


def test_refresh_jobs_are_counted_by_outcome_from_the_database(client, admin_key, make_account):
    from logins.models import JobOutcome, RefreshJob

    account = make_account()
    for outcome in (JobOutcome.SUCCEEDED, JobOutcome.SUCCEEDED, JobOutcome.HARD_STOP):
        RefreshJob.objects.create(account=account, outcome=outcome)
    text = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}").content.decode()
    assert total(text, "gempool_refresh_jobs", outcome="succeeded") == 2
    assert total(text, "gempool_refresh_jobs", outcome="hard_stop") == 1
    assert total(text, "gempool_refresh_jobs", outcome="running") == 0
