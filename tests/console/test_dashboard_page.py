"""The dashboard's traffic view in a real browser: range picker (state in the URL), model and key filters,
requests/errors, latency and TTFT charts, per-model and per-key tables, empty state; wide and phone width,
light and dark."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import RequestLog
from accounts.services import api_key_create
from metering import histogram
from metering.models import UsageHour

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _hour(ago: timedelta):
    return (timezone.now() - ago).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
def traffic(db):
    """Three days of hourly rollup rows: two models, two keys, a few errors, streams with a first token."""
    ops, _ = api_key_create(name="ops team")
    web, _ = api_key_create(name="web app")
    plan = [(ops, "gemini-2.5-flash", 5, 1, 400, 150), (web, "gemini-2.5-pro", 2, 0, 6000, 900)]
    for hours in range(0, 72, 5):
        for key, model, requests, errors, latency, ttft in plan:
            UsageHour.objects.create(
                hour=_hour(timedelta(hours=hours)), api_key_id=key.pk, model=model, requests=requests,
                errors=errors if hours % 10 == 0 else 0, latency_ms_total=latency * requests,
                **{histogram.LATENCY_COLUMNS[histogram.bucket_index(latency + hours)]: requests,
                   histogram.TTFT_COLUMNS[histogram.bucket_index(ttft)]: requests})
    return {"ops": ops, "web": web}


def _fits(page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", [1366, 390])
def test_an_operator_picks_seven_days_filters_a_model_and_reads_the_charts_and_tables(logged_in, traffic, theme,
                                                                                       width):
    page = logged_in
    page.add_init_script(f"window.localStorage.setItem('gempool-theme', '{theme}')")
    page.set_viewport_size({"width": width, "height": 900})
    page.goto("/")
    page.locator("#dash-summary", has_text="in the last 24 hours").wait_for()
    page.click('#dash-ranges [data-range="7d"]')
    page.wait_for_url("**/?range=7d")
    page.locator("#dash-summary", has_text="in the last 7 days").wait_for()
    assert page.locator('#dash-ranges [data-range="7d"]').get_attribute("aria-pressed") == "true"
    page.select_option("#dash-model", "gemini-2.5-pro")
    page.wait_for_url("**/?range=7d&model=gemini-2.5-pro")
    page.locator("#dash-summary", has_text="30 requests · 0 errors").wait_for()
    assert page.locator("#dash-models tbody tr").all_inner_texts()[0].startswith("gemini-2.5-pro")
    assert page.locator("#dash-keys tbody tr").count() == 1
    assert "web app" in page.locator("#dash-keys tbody tr").inner_text()
    assert page.locator("#dash-requests rect.bar-req").count() > 0
    assert page.locator("#dash-latency path.dash-line").count() == 3
    assert page.locator("#dash-ttft path.dash-line").count() == 3
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    assert _fits(page, width)
    assert page.errors == []


def test_a_range_without_requests_says_so_and_hides_the_charts(logged_in):
    page = logged_in
    page.goto("/")
    page.locator("#dash-empty", has_text="No requests in the last 24 hours.").wait_for()
    assert page.locator("#dash-requests").is_hidden() and page.locator("#dash-tables").is_hidden()
    page.click('#dash-ranges [data-range="30d"]')
    page.locator("#dash-empty", has_text="No requests in the last 30 days.").wait_for()
    assert page.errors == []


def test_the_range_in_the_url_is_honoured_and_short_ranges_count_from_the_request_log(logged_in):
    page = logged_in
    now = timezone.now()
    RequestLog.objects.create(created_at=now - timedelta(minutes=3), status_code=502, latency_ms=2400,
                              error_kind="upstream_error", model="gemini-2.5-flash")
    RequestLog.objects.create(created_at=now - timedelta(hours=2), status_code=200, latency_ms=100,
                              model="gemini-2.5-flash")  # outside the hour
    page.goto("/?range=1h")
    page.locator("#dash-summary", has_text="1 request · 1 error (100%) in the last hour").wait_for()
    assert page.locator('#dash-ranges [data-range="1h"]').get_attribute("aria-pressed") == "true"
    assert page.locator('[data-figure="latency"]').inner_text() == "2.5 s / 3 s"  # interpolated in (2 s, 3 s]
    labels = page.eval_on_selector_all("#dash-requests text.axis", "els => els.map(e => e.textContent)")
    times = [label for label in labels if ":" in label]
    assert times and all(int(t.split(":")[1]) % 5 == 0 for t in times)  # round local times, not dates
    assert page.locator("#dash-ttft-empty").is_visible()  # no stream sent a first token
    page.click('#dash-ranges [data-range="6h"]')
    page.wait_for_url("**/?range=6h")
    page.locator("#dash-summary", has_text="2 requests · 1 error (50%) in the last 6 hours").wait_for()
    assert page.errors == []
