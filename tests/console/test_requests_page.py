"""The Requests page in a real browser: the request log filtered, opened row by row, paged, shared by its address,
at desktop and phone widths in both themes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import api_key_create
from metering.models import AttemptOutcome
from metering.records import AttemptRecord, RequestRecord, request_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _add(*, ago: timedelta, key=None, model="gemini-2.5-flash", status=200, error="", attempts=(), stream=False,
         request_id="") -> int:
    at = timezone.now() - ago
    records = tuple(AttemptRecord(account_id=account.pk, started_at=at, latency_ms=120 + i, outcome=outcome,
                                  error_kind=kind) for i, (account, outcome, kind) in enumerate(attempts))
    answering = attempts[-1][0].pk if attempts and attempts[-1][1] == AttemptOutcome.OK else None
    return request_record(RequestRecord(
        endpoint="chat", model=model, stream=stream, status_code=status, latency_ms=1450, request_id=request_id,
        account_id=answering, api_key_id=key.pk if key else None, key_name=key.name if key else "",
        error_kind=error, prompt_tokens=20, completion_tokens=8, ttft_ms=310 if stream else None,
        attempts=records), now=at)


@pytest.fixture
def requests_log(make_account):
    first, second = make_account(label="seat alpha"), make_account(label="seat beta")
    ops, _ = api_key_create(name="ops team")
    ids = {
        "failover": _add(ago=timedelta(minutes=50), key=ops, request_id="aaa111000000000000000001",
                         attempts=[(first, AttemptOutcome.ERROR, "rate_limited"), (second, AttemptOutcome.OK, "")]),
        "bad_gateway": _add(ago=timedelta(minutes=20), key=ops, model="gemini-2.5-pro", status=502,
                            error="upstream_error", request_id="bbb222000000000000000002",
                            attempts=[(first, AttemptOutcome.ERROR, "upstream_error")]),
        "streamed": _add(ago=timedelta(minutes=5), stream=True, request_id="ccc333000000000000000003",
                         attempts=[(second, AttemptOutcome.OK, "")]),
        "last_week": _add(ago=timedelta(days=3), key=ops, request_id="ddd444000000000000000004",
                          attempts=[(second, AttemptOutcome.OK, "")]),
    }
    return {"ids": ids, "first": first, "second": second, "ops": ops}


def _row(page, pk: int):
    return page.locator(f'tr.reqlog-row[data-id="{pk}"]')


def _open(page, path="/requests/"):
    page.goto(path)
    page.locator("#reqlog-summary", has_text="newest first").or_(page.locator("#reqlog-empty")).first.wait_for()


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_an_operator_filters_by_status_and_opens_a_request_to_see_its_attempts(logged_in, requests_log, theme,
                                                                                width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 860})
    page.add_init_script(f"window.localStorage.setItem('gempool-theme', '{theme}')")
    _open(page)
    ids = requests_log["ids"]
    assert page.locator("tr.reqlog-row").count() == 3  # the last 24 hours: not last week's
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    assert _row(page, ids["failover"]).locator(".reqlog-attempts-cell").inner_text().startswith("2 attempts")
    assert _row(page, ids["streamed"]).locator(".reqlog-attempts-cell").inner_text().startswith("1 attempt\n")

    page.select_option("#reqlog-status", "error")
    _row(page, ids["failover"]).wait_for(state="detached")
    assert page.locator("tr.reqlog-row").count() == 1
    assert "status=error" in page.url
    bad = _row(page, ids["bad_gateway"])
    assert "502" in bad.locator(".reqlog-badge").inner_text()
    bad.scroll_into_view_if_needed()
    bad.click()
    detail = page.locator("tr.reqlog-detail")
    detail.locator(".reqlog-account", has_text="seat alpha").wait_for()
    assert "upstream_error" in detail.locator(".reqlog-attempts").inner_text()
    assert "prompt logging is off" in detail.inner_text()
    assert bad.get_attribute("aria-expanded") == "true"

    assert page.evaluate("document.documentElement.scrollWidth") <= width  # the page itself never scrolls sideways
    if width < 800:  # the table scrolls inside its card instead
        assert page.evaluate("(() => { const w = document.querySelector('.reqlog-wrap');"
                             " return w.scrollWidth > w.clientWidth; })()")
    badge_colour = bad.locator(".reqlog-badge").evaluate("node => getComputedStyle(node).backgroundColor")
    assert badge_colour not in ("rgba(0, 0, 0, 0)", "transparent")
    assert page.errors == []


def test_the_address_carries_the_filters_so_a_link_opens_the_same_view(logged_in, requests_log):
    page = logged_in
    ops = requests_log["ops"].pk
    _open(page, f"/requests/?range=7d&key={ops}&status=ok")
    assert page.locator("#reqlog-range").input_value() == "7d"
    assert page.locator("#reqlog-status").input_value() == "ok"
    page.locator("#reqlog-key option", has_text="ops team").wait_for(state="attached")
    assert page.locator("#reqlog-key").input_value() == str(ops)
    ids = requests_log["ids"]
    assert [int(i) for i in page.locator("tr.reqlog-row").evaluate_all("rows => rows.map(r => r.dataset.id)")] == [
        ids["failover"], ids["last_week"]]


def test_searching_by_request_id_finds_the_request(logged_in, requests_log):
    page = logged_in
    _open(page)
    page.fill("#reqlog-q", "chatcmpl-bbb2")
    _row(page, requests_log["ids"]["failover"]).wait_for(state="detached")
    assert page.locator("tr.reqlog-row").count() == 1 and "q=chatcmpl-bbb2" in page.url
    page.fill("#reqlog-q", "not an id")
    page.locator("#reqlog-error", has_text="request id").wait_for()


def test_older_requests_come_a_page_at_a_time(logged_in, make_account):
    page = logged_in
    account = make_account()
    for i in range(53):
        _add(ago=timedelta(minutes=i + 1), attempts=[(account, AttemptOutcome.OK, "")])
    _open(page)
    assert page.locator("tr.reqlog-row").count() == 50
    page.click("#reqlog-more")
    page.locator("#reqlog-more").wait_for(state="hidden")
    assert page.locator("tr.reqlog-row").count() == 53
    assert page.locator("#reqlog-summary").inner_text().startswith("53 requests")


def test_an_empty_range_says_so(logged_in):
    page = logged_in
    _open(page)
    assert page.locator("#reqlog-empty").inner_text() == "No requests in this range."
    assert page.locator("#reqlog-prompts").inner_text() == "Prompt logging is off"
    assert page.locator("#reqlog-more").is_hidden()
