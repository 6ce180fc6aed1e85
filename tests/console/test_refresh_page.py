"""The console's Refresh page in a real browser: queue, outcomes with their screenshot, "refresh now"."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Account, AccountStatus
from logins.models import JobOutcome, JobTrigger, LoginProfile, Mailbox, RefreshJob

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _profiled(label: str, *, expires_in: timedelta, mailbox: Mailbox, **fields) -> Account:
    account = Account.objects.create(label=label, team_id=f"team-{label}", csesidx=str(abs(hash(label)) % 10**8),
                                     secure_c_ses=f"cookie-{label}", login_expires_at=timezone.now() + expires_in,
                                     **fields)
    LoginProfile.objects.create(account=account, email=f"{label}@mail.test", mailbox=mailbox)
    return account


def test_the_operator_sees_the_queue_and_a_failure_and_asks_for_a_refresh(logged_in):
    page = logged_in
    # Port 1 on loopback: nothing listens, so its Test button fails at once.
    mailbox = Mailbox.objects.create(name="catch-all", host="127.0.0.1", port=1, username="all@mail.test",
                                     password="planted-mailbox-password", catch_all=True)
    due = _profiled("dueseat", expires_in=timedelta(minutes=20), mailbox=mailbox)
    _profiled("laterseat", expires_in=timedelta(hours=9), mailbox=mailbox)
    stopped = _profiled("stoppedseat", expires_in=timedelta(minutes=5), mailbox=mailbox,
                        status=AccountStatus.NEEDS_ATTENTION, attention_reason="Google asked for a CAPTCHA")
    job = RefreshJob.objects.create(account=stopped, trigger=JobTrigger.EXPIRING, outcome=JobOutcome.HARD_STOP,
                                    finished_at=timezone.now(), step="send_code", error="Google asked for a CAPTCHA",
                                    page_url="https://accountverification.example/v1/verify-oob-code",
                                    page_title="Verify your email")
    shots = settings.DATA_DIR / "login-screenshots"
    shots.mkdir(exist_ok=True)
    (shots / f"job-{job.pk}.png").write_bytes(PNG)
    RefreshJob.objects.filter(pk=job.pk).update(screenshot=f"job-{job.pk}.png")

    page.goto("/refresh/")
    page.locator("#queue-table tbody tr", has_text="dueseat").wait_for()
    page.locator("#upcoming-table tbody tr", has_text="laterseat").wait_for()
    stopped_row = page.locator("#upcoming-table tbody tr", has_text="stoppedseat")
    stopped_row.locator("text=waits for a person: Google asked for a CAPTCHA").wait_for()
    outcome = page.locator("#recent-table tbody tr", has_text="stoppedseat")
    outcome.locator(".badge", has_text="Needs a person").wait_for()
    assert "Verify your email" in outcome.inner_text()
    shot = page.request.get(outcome.locator("a", has_text="view").get_attribute("href"))
    assert shot.status == 200 and shot.body() == PNG
    box_row = page.locator("#mailboxes-table tbody tr", has_text="catch-all")
    box_row.locator("text=password ••••").wait_for()  # masked: set, never shown
    assert "planted-mailbox-password" not in page.content()
    box_row.locator("[data-action=test-mailbox]").click()
    page.locator(".snackbar.error", has_text="cannot reach 127.0.0.1:1").wait_for()

    stopped_row.locator("[data-action=refresh-now]").click()
    page.locator(".snackbar", has_text="next pass").wait_for()
    assert LoginProfile.objects.get(account=stopped).refresh_requested_at is not None
    page.locator("#queue-table tbody tr", has_text="stoppedseat").locator("button", has_text="Asked").wait_for()
    assert LoginProfile.objects.get(account=due).refresh_requested_at is None
    assert page.errors == []


def test_the_account_dialog_gives_an_account_its_login_address_and_mailbox(logged_in):
    page = logged_in
    Mailbox.objects.create(name="team inbox", host="127.0.0.1", port=1, username="team@mail.test", password="pw")
    account = Account.objects.create(label="Mailbox seat", team_id="team-mb", csesidx="9901", secure_c_ses="c")
    page.goto("/accounts/")
    row = page.locator("#accounts-table tbody tr", has_text="Mailbox seat")
    row.locator("[data-action=edit]").click()
    form = page.locator("#account-form")
    form.locator("[name=login_mailbox] option", has_text="team inbox").wait_for(state="attached")
    form.locator("[name=login_email]").fill("not-an-address")
    form.locator("[name=login_mailbox]").select_option(label="team inbox (team@mail.test)")
    page.click("#account-save")
    page.locator('[data-error="email"]', has_text="valid email").wait_for()

    form.locator("[name=login_email]").fill("seat9901@mail.test")
    page.click("#account-save")
    page.locator(".snackbar", has_text="Saved Mailbox seat").wait_for()
    profile = LoginProfile.objects.get(account=account)
    assert (profile.email, profile.mailbox.name) == ("seat9901@mail.test", "team inbox")

    row.locator("[data-action=edit]").click()  # the dialog shows what is stored
    expect(form.locator("[name=login_email]")).to_have_value("seat9901@mail.test")
    assert page.errors == []
