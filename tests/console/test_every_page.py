"""Every console page at desktop and phone width, in the light and the dark theme.

What each page must do whatever it shows: load without a script error or a CSP violation, fill in its data
(no "undefined", "NaN" or "null" left in the text), fit the screen (no sideways scrolling of the page; wide
tables scroll inside their own wrapper), keep every console page and the Django admin one tap away (on a
phone the admin link moves to the top bar), and keep the navigation in view on a long page.
"""
from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import AccountStatus, RequestLog
from console.views import PAGES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = {"desktop": (1366, 800), "phone": (390, 844)}
LEFTOVERS = ("undefined", "NaN", "[object Object]", "null")


def _url(name: str) -> str:
    return "/" if name == "dashboard" else f"/{name}/"


@pytest.fixture
def busy_pool(make_account):
    """Enough rows that pages have something to lay out, and one of each account state."""
    accounts = [make_account(label=f"Seat {n:03d} with a rather long label", status=status)
                for n, status in enumerate([AccountStatus.ACTIVE, AccountStatus.COOLING_DOWN,
                                            AccountStatus.NEEDS_LOGIN, AccountStatus.ACTIVE] * 6)]
    now = timezone.now()
    RequestLog.objects.bulk_create([
        RequestLog(created_at=now - timezone.timedelta(minutes=n * 7), account=accounts[n % len(accounts)],
                   model="gemini-2.5-flash", status_code=200 if n % 5 else 429, latency_ms=300 + n,
                   error_kind="" if n % 5 else "rate_limited", ttft_ms=120 + n) for n in range(60)])
    return accounts


def _open(page, name: str, width: str, theme: str) -> None:
    page.set_viewport_size(dict(zip(("width", "height"), WIDTHS[width], strict=True)))
    page.add_init_script(f"window.localStorage.setItem('gempool-theme', '{theme}')")
    page.goto(_url(name))
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.dataset.theme") == theme


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_console_page_loads_cleanly_and_fits_the_screen(logged_in, busy_pool, name, width, theme):
    page = logged_in
    _open(page, name, width, theme)
    assert page.errors == [], page.errors
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name} scrolls sideways by {overflow} px at {width} width"
    text = page.locator("main").inner_text()
    for leftover in LEFTOVERS:
        assert f" {leftover} " not in f" {text} ".replace("\n", " "), f"{leftover!r} shown on {name}"
    nav = page.locator("nav.nav")
    for other in PAGES:
        assert nav.locator(f'a[href="{_url(other)}"]').is_visible(), f"no way to {other} from {name}"
    admin = page.locator('a[href="/admin/"]:visible')  # the sidebar's, or the top bar's on a phone
    assert admin.count() >= 1, f"the Django admin link is hidden on {name} at {width} width"
    box = admin.first.bounding_box()
    assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= WIDTHS[width][0], box


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_navigation_stays_in_view_on_a_long_page(logged_in, busy_pool, width):
    page = logged_in
    _open(page, "accounts", width, "light")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_function("window.scrollY > 0")
    box = page.locator("nav.nav").bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] < WIDTHS[width][1], box


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_login_page_loads_cleanly_and_fits_the_screen(page, width, theme):
    _open(page, "login", width, theme)
    assert page.errors == [], page.errors
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    for field in ("username", "password"):
        box = page.locator(f"input[name={field}]").bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width][0]
