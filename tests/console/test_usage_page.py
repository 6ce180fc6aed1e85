"""The Usage page in a real browser: totals, charts per key and model, filters, CSV export, phone width, dark."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import api_key_create
from metering.models import UsageDay

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def usage(db):
    today = timezone.now().date()
    ops, _ = api_key_create(name="ops team")
    web, _ = api_key_create(name="web app")
    rows = [(0, ops, "gemini-2.5-flash", 12, 1), (1, ops, "gemini-2.5-pro", 4, 0), (3, web, "gemini-2.5-flash", 6, 2),
            (40, web, "gemini-2.5-pro", 100, 0)]  # the last one is outside the default 30 days
    for ago, key, model, requests, errors in rows:
        UsageDay.objects.create(day=today - timedelta(days=ago), api_key_id=key.pk, model=model, requests=requests,
                                errors=errors, prompt_tokens=50 * requests, completion_tokens=10 * requests,
                                latency_ms_total=400 * requests)
    return {"ops": ops, "web": web}


def _open(page):
    page.goto("/usage/")
    page.locator('[data-total="requests"]', has_text="22").wait_for()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_usage_page_shows_totals_and_charts_per_key_and_model(logged_in, usage, theme):
    page = logged_in
    page.add_init_script(f"window.localStorage.setItem('gempool-theme', '{theme}')")
    _open(page)
    assert page.locator('[data-total="errors"]').inner_text() == "3"
    assert page.locator('[data-total="tokens"]').inner_text().replace(",", "") == str(22 * 60)
    assert page.locator('[data-total="latency"]').inner_text() == "400 ms"
    assert page.locator("#chart-key rect.bar-series").count() == 3  # one bar part per key and day with use
    assert page.locator("#chart-model rect.bar-series").count() == 3
    assert page.locator("#legend-key .legend-item").all_inner_texts() == ["ops team", "web app"]
    axis = page.eval_on_selector_all("#chart-key text.axis", "els => els.map(e => e.textContent)")
    assert axis[:5] == ["0", "5", "10", "15", "20"]  # the busiest day has 12: round gridlines up to 20
    assert page.locator("#usage-models tbody tr").count() == 2
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    fills = page.eval_on_selector_all("#chart-key rect.bar-series", "els => els.map(e => getComputedStyle(e).fill)")
    assert len(set(fills)) == 2 and "none" not in fills  # one colour per key, from the theme's palette
    assert page.errors == []


def test_filters_and_the_metric_redraw_it(logged_in, usage):
    page = logged_in
    _open(page)
    page.locator("#usage-key option", has_text="web app").wait_for(state="attached")
    page.select_option("#usage-key", str(usage["web"].pk))
    page.locator('[data-total="requests"]', has_text="6").wait_for()
    assert page.locator("#usage-keys tbody tr").all_inner_texts()[0].startswith("web app")
    page.select_option("#usage-range", "90")
    page.locator('[data-total="requests"]', has_text="106").wait_for()
    page.select_option("#usage-metric", "tokens")
    page.locator("#chart-key .chart-tip").wait_for(state="attached")
    assert "tokens" in page.locator("#chart-key rect.bar-series title").first.text_content()


def test_the_csv_export_follows_the_filters(logged_in, usage):
    page = logged_in
    _open(page)
    page.select_option("#usage-range", "custom")
    page.fill("#usage-from", (timezone.now().date() - timedelta(days=2)).isoformat())
    page.dispatch_event("#usage-from", "change")
    page.locator('[data-total="requests"]', has_text="16").wait_for()
    href = page.get_attribute("#usage-export", "href")
    body = page.request.get(href).text()
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0][:4] == ["key_id", "key", "day", "model"]
    assert lines[0][4] == "requests" and sorted(int(line[4]) for line in lines[1:]) == [4, 12]


def test_a_range_that_ends_before_it_starts_is_explained(logged_in, usage):
    page = logged_in
    _open(page)
    page.select_option("#usage-range", "custom")
    page.fill("#usage-to", "2020-01-01")
    page.dispatch_event("#usage-to", "change")
    page.locator("#usage-error", has_text="starts after it ends").wait_for()


def test_an_empty_range_says_so(logged_in):
    page = logged_in
    page.goto("/usage/")
    page.locator("#usage-empty").wait_for()
    assert page.locator('[data-total="requests"]').inner_text() == "0"


def test_the_usage_page_fits_a_phone(logged_in, usage):
    page = logged_in
    page.set_viewport_size({"width": 390, "height": 844})
    _open(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#chart-model rect.bar-series").first.is_visible()
    assert page.locator("#usage-export").is_visible()
    assert page.errors == []
