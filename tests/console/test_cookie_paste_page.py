"""The Accounts page's "Paste cookies" dialog in a real browser: a manual refresh in seconds."""
from __future__ import annotations

import pytest

from accounts.models import Account, AccountStatus
from gemini_enterprise.simulator import SimAccount

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_pasting_a_cookie_header_and_the_address_brings_an_account_back(logged_in, sim):
    page = logged_in
    account = Account.objects.create(label="Pasted seat", team_id="old-team", csesidx="1", secure_c_ses="dead",
                                     status=AccountStatus.NEEDS_LOGIN)
    sim.add_account(SimAccount(csesidx="6001", secure_c_ses="fresh-ses-value", host_c_oses="fresh-oses-value",
                               team_id="f00d-team"))
    page.goto("/accounts/")
    row = page.locator("#accounts-table tbody tr", has_text="Pasted seat")
    row.locator(".badge", has_text="Needs login").wait_for()

    row.locator("[data-action=paste]").click()
    form = page.locator("#paste-form")
    form.locator("[name=cookies]").fill("__Secure-C_SES=fresh-ses-value; __Host-C_OSES=fresh-oses-value")
    form.locator("[name=url]").fill("https://business.gemini.google/cid/nowhere")
    page.click("#paste-save")
    page.locator("#paste-form .alert-error", has_text="csesidx").wait_for()  # the URL lacks it: said so

    form.locator("[name=url]").fill("https://business.gemini.google/cid/f00d-team?csesidx=6001")
    page.click("#paste-save")
    page.locator(".snackbar", has_text="New login saved and tested").wait_for()
    row.locator(".badge", has_text="Active").wait_for()
    account.refresh_from_db()
    assert (account.team_id, account.csesidx, account.secure_c_ses) == ("f00d-team", "6001", "fresh-ses-value")
    assert "fresh-ses-value" not in page.content()
    assert page.errors == []
