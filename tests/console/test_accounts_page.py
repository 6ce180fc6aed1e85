"""The Accounts page with a pool of hundreds of seats, and the console's finish (sidebar, admin link, proxy
test message, the admin's account list), in a real browser at desktop and phone width, light and dark."""
from __future__ import annotations

import re
import socket

import pytest
from django.utils import timezone

from accounts.models import Account, AccountStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
LONG_ERROR = "upstream said: " + "the request could not be completed because of a long explanation " * 4


@pytest.fixture
def big_pool(make_account) -> list[Account]:
    """120 seats labelled seat-001 … seat-120 (ids in the same order), some with a long last error."""
    now = timezone.now()
    accounts = []
    for n in range(1, 121):
        extra = {"last_error_kind": "unavailable", "last_error_reason": LONG_ERROR, "last_error_at": now} \
            if n % 10 == 0 else {}
        accounts.append(make_account(label=f"seat-{n:03d}", **extra))
    return accounts


def themed(page, theme: str):
    page.add_init_script(f"window.localStorage.setItem('gempool-theme', '{theme}')")
    return page


def page_overflow(page) -> int:
    """How far the page body reaches past the window's right edge (0: no horizontal scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5 \
        and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] + 0.5


def rows(page):
    return page.locator("#accounts-table tbody tr")


def first_label(page) -> str:
    return rows(page).first.locator(".cell-title").inner_text()


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_an_operator_sorts_pages_and_bulk_disables_in_a_pool_of_120(logged_in, big_pool, viewport, theme):
    page = themed(logged_in, theme)
    page.set_viewport_size(viewport)
    page.goto("/accounts/")
    page.locator("#account-count", has_text="120 accounts").wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == theme
    assert rows(page).count() == 50
    assert page.locator("#page-info").inner_text() == "1–50 of 120 accounts · page 1 of 3"

    header = page.locator('#accounts-table th[data-sort="label"]')
    header.locator("button").click()
    page.locator('#accounts-table th[data-sort="label"][aria-sort="ascending"]').wait_for()
    assert "ordering=label" in page.url
    header.locator("button").click()
    page.locator('#accounts-table th[data-sort="label"][aria-sort="descending"]').wait_for()
    assert "ordering=-label" in page.url
    assert page.locator('#accounts-table th[aria-sort="none"]').count() == 5
    assert first_label(page) == "seat-120"

    page.click("#page-next")
    page.wait_for_url(re.compile(r"page=2"))
    page.locator("#page-info", has_text="51–100 of 120 accounts").wait_for()
    assert first_label(page) == "seat-070"

    targets = ["seat-065", "seat-066"]
    for label in targets:
        rows(page).filter(has_text=label).locator("[data-action=select]").check()
    page.locator("#bulk-count", has_text="2 accounts selected").wait_for()
    page.locator('#bulk-bar [data-bulk="disable"]').click()
    page.locator(".snackbar", has_text="Disabled 2 accounts.").wait_for()
    for label in targets:
        rows(page).filter(has_text=label).locator(".badge", has_text="Disabled").wait_for()
    assert sorted(Account.objects.filter(enabled=False).values_list("label", flat=True)) == targets
    assert page.locator("#bulk-bar").is_hidden()

    # The table scrolls inside its wrapper; the page itself never scrolls sideways.
    wrapper = page.locator("#accounts-scroll")
    assert wrapper.evaluate("node => node.scrollWidth > node.clientWidth")
    assert page_overflow(page) == 0
    test_button = rows(page).first.locator("[data-action=test]")
    if viewport is DESKTOP:
        assert in_viewport(page, test_button)  # the Actions column is pinned to the right edge
    test_button.scroll_into_view_if_needed()
    assert in_viewport(page, test_button)
    assert page_overflow(page) == 0
    assert page.errors == []


def test_the_list_state_lives_in_the_url(logged_in, big_pool):
    page = logged_in
    Account.objects.filter(label__in=["seat-003", "seat-004"]).update(enabled=False, status=AccountStatus.DISABLED)
    page.goto("/accounts/?status=disabled&ordering=-label&page_size=25")
    page.locator("#account-count", has_text="2 accounts match").wait_for()
    assert first_label(page) == "seat-004"
    assert page.locator("#account-status").input_value() == "disabled"
    assert page.locator("#page-size").input_value() == "25"
    page.fill("#account-filter", "seat-11")
    page.select_option("#account-status", "")
    page.wait_for_url(re.compile(r"search=seat-11"))
    page.locator("#account-count", has_text="10 accounts match").wait_for()
    assert "status=" not in page.url


def test_one_account_is_counted_in_the_singular(logged_in, make_account):
    page = logged_in
    make_account(label="only seat")
    page.goto("/accounts/")
    page.locator("#account-count", has_text="1 account").wait_for()
    assert page.locator("#account-count").inner_text() == "1 account"
    assert page.locator("#page-info").inner_text() == "1–1 of 1 account · page 1 of 1"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_an_empty_pool_offers_to_add_an_account_or_import_a_config(logged_in, viewport):
    page = logged_in
    page.set_viewport_size(viewport)
    page.goto("/accounts/")
    empty = page.locator("#accounts-empty")
    empty.wait_for()
    assert "No accounts yet — add one or import a config" in empty.inner_text()
    assert empty.locator("a", has_text="Import a config").get_attribute("href") == "/settings/#import"
    assert page.locator("#accounts-pager").is_hidden() and page.locator("#accounts-scroll").is_hidden()
    assert page_overflow(page) == 0
    empty.locator("#empty-add").click()
    page.locator("#account-dialog[open]").wait_for()


def test_the_sidebar_stays_in_view_on_a_long_page(logged_in, big_pool):
    page = logged_in
    page.set_viewport_size({"width": 1366, "height": 700})
    page.goto("/accounts/?page_size=200")
    page.locator("#account-count", has_text="120 accounts").wait_for()
    rows(page).nth(119).wait_for()
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("() => window.scrollY > 1000")
    nav_link = page.locator('.nav a[href="/settings/"]')
    assert in_viewport(page, nav_link)
    assert in_viewport(page, page.locator('.nav a[href="/admin/"]'))


def test_the_admin_link_is_on_screen_at_phone_width(logged_in):
    page = logged_in
    page.set_viewport_size(PHONE)
    page.goto("/settings/")
    link = page.locator('a[href="/admin/"]:visible')
    assert link.count() == 1 and in_viewport(page, link)
    assert link.get_attribute("aria-label") == "Django admin"
    assert page_overflow(page) == 0


def test_a_refused_proxy_test_reads_as_a_sentence(logged_in, settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    page = logged_in
    page.goto("/settings/")
    page.wait_for_function("() => !document.getElementById('settings-fields').disabled")
    page.locator("#settings-form [name=proxy]").fill(f"http://127.0.0.1:{port}")
    page.click("#proxy-test")
    result = page.locator("#proxy-test-result.fail")
    result.wait_for()
    sentence = f"Could not connect to the proxy at 127.0.0.1:{port}: connection refused."
    assert result.evaluate("node => node.firstChild.textContent") == sentence
    details = result.locator("details")
    assert details.locator("summary").inner_text() == "Details" and not details.evaluate("node => node.open")
    assert page.errors == []


def test_the_admin_account_list_fits_1366_px(page, live_server, admin_user, big_pool):
    from django.test import Client

    Account.objects.filter(pk=big_pool[0].pk).update(
        label="operations-team-seat-with-a-rather-long-name@example-company.com",
        team_id="0f8c2d7e-5b1a-4c3e-9d6f-2a7b8c9d0e1f", last_used_at=timezone.now())

    client = Client()
    client.force_login(admin_user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                               "url": live_server.url}])
    page.set_viewport_size(DESKTOP)
    page.goto("/admin/accounts/account/")
    page.locator("#result_list").wait_for()
    assert page_overflow(page) == 0
    # Nor does the list scroll sideways inside the admin's own scrolling box.
    assert page.locator("#changelist .results").evaluate("node => node.scrollWidth <= node.clientWidth")
    assert page.locator("#result_list tbody tr").count() == 50
    assert "120 accounts" in page.locator(".paginator").inner_text()
