"""The simulator's login pages in Debian's Chromium (Playwright), the code read from Dovecot over IMAPS."""
from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gemini_enterprise.login_walk import getoxsrf
from tests.gemini_enterprise.test_simulator_mail import code_in

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Module-scoped: Playwright's sync API keeps an asyncio loop on this thread while the browser lives."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); scripts/test installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, login_sim) -> Iterator:
    context = browser.new_context(base_url=login_sim.url)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def mailing_sim(login_sim, mailserver):
    login_sim.configure_login(lmtp=mailserver.lmtp)
    return login_sim


def read_code(mailbox, count: int = 1) -> str:
    return code_in(mailbox.wait_for_messages(count)[-1])


def test_variant_a_logs_in_by_direct_url_with_the_first_candidates(page, mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    page.goto("/login")
    token = page.locator("meta[name='xsrf-token']").get_attribute("content")
    query = urllib.parse.urlencode({"continueUrl": "https://business.gemini.google/", "loginHint": seat.email,
                                    "xsrfToken": token})
    page.goto(f"/login/email?{query}")
    page.locator("#sign-in-with-email").click()
    code_input = page.locator("input[name='pinInput']")
    code = read_code(mailbox)
    code_input.press_sequentially(code)
    assert page.locator(".pin-box").all_inner_texts() == list(code)  # the six boxes mirror the real input
    page.locator("button[jsname='XooR8e']").click()

    page.wait_for_url(re.compile(rf"/cid/{seat.team_id}\?csesidx={seat.csesidx}$"))
    assert '"daysLeft":30' in page.content()
    cookies = {c["name"]: c for c in page.context.cookies()}
    ses, oses = cookies["__Secure-C_SES"], cookies["__Host-C_OSES"]
    assert ses["expires"] > 0 and ses["secure"] and oses["secure"]
    assert getoxsrf(mailing_sim, seat.csesidx, ses["value"], oses["value"]).status_code == 200


def test_variant_b_logs_in_by_form_with_onboarding_and_a_resend(page, mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address, login_variant="b")
    mailing_sim.configure_login(variant="b")
    mailing_sim.add_fault("onboarding", csesidx=seat.csesidx, count=1)
    mailing_sim.add_fault("wrong_first_code", csesidx=seat.csesidx, count=1)
    page.goto("/login?continueUrl=https://business.gemini.google/")
    page.locator("input[name='loginHint']").fill(seat.email)
    page.locator("button[jsname='jXw9Fb']").click()
    page.get_by_text("通过电子邮件发送验证码").click()
    page.locator("input[jsname='ovqh0b']").press_sequentially(read_code(mailbox))
    page.locator("button[jsname='XooR8e']").click()
    page.get_by_text("验证码有误").wait_for()  # waits until visible
    page.get_by_text("重新发送验证码").click()
    page.locator("input[jsname='ovqh0b']").press_sequentially(read_code(mailbox, 2))
    page.locator("button[jsname='XooR8e']").click()

    page.wait_for_url(re.compile(r"/admin/create$"))
    page.locator("input[formcontrolname='fullName']").fill("Ada Operator")
    assert page.locator("input[placeholder='全名']").count() == 1
    page.locator("button.agree-button").click()
    page.wait_for_url(re.compile(rf"/cid/{seat.team_id}\?csesidx={seat.csesidx}$"))


def test_variant_c_mails_at_once_and_verifies_on_enter(page, mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address, login_variant="c")
    mailing_sim.configure_login(variant="c")
    page.goto("/login")
    page.locator("input[type='email']").fill(seat.email)
    page.get_by_role("button", name="Next").click()
    code_input = page.locator("input[type='tel'][autocomplete='one-time-code']")
    code_input.press_sequentially(read_code(mailbox))
    code_input.press("Enter")
    page.wait_for_url(re.compile(rf"/cid/{seat.team_id}\?csesidx={seat.csesidx}$"))


def test_a_captcha_is_a_visible_recaptcha_frame(page, mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    mailing_sim.add_fault("captcha", csesidx=seat.csesidx, count=1)
    page.goto("/login")
    page.locator("#email-input").fill(seat.email)
    page.locator("#log-in-button").click()
    page.locator("iframe[src*='recaptcha']").wait_for()  # waits until visible
    page.locator("#sign-in-with-email").click()
    page.locator("[role='alert']").filter(has_text="Something went wrong").wait_for()
    assert mailing_sim.mails(seat.email) == []


def test_access_restricted_is_a_heading(page, mailing_sim, make_seat, mailbox) -> None:
    seat = make_seat(email=mailbox.address)
    mailing_sim.add_fault("access_restricted", csesidx=seat.csesidx, count=1)
    page.goto("/login")
    page.locator("#email-input").fill(seat.email)
    page.locator("#log-in-button").click()
    page.get_by_role("heading", name="Access Restricted").wait_for()  # waits until visible
    assert "/v1/verify-oob-code" in page.url
