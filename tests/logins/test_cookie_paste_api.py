"""Manual refresh (issue 15, point 6): pasted cookies + the app URL become the account's login, tested at once."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import Account, AccountStatus
from gemini_enterprise.simulator import SimAccount
from logins.models import LoginProfile, Mailbox

pytestmark = pytest.mark.django_db


def paste(client, account, cookies: str, url: str):
    return client.post(f"/api/accounts/{account.pk}/cookies", data=json.dumps({"cookies": cookies, "url": url}),
                       content_type="application/json")


@pytest.fixture
def stuck(make_account):
    """An account a refresh could not save: waiting for a person, its worker backing off."""
    account = make_account(status=AccountStatus.NEEDS_ATTENTION, attention_reason="Google asked for a CAPTCHA")
    box = Mailbox.objects.create(name="m", host="imap.mail.test", username="m@mail.test", password="pw")
    LoginProfile.objects.create(account=account, email="m@mail.test", mailbox=box, failure_streak=3,
                                next_attempt_at=datetime.now(UTC) + timedelta(hours=1))
    return account


def test_a_pasted_cookie_header_and_url_bring_the_account_back(staff_client, upstream_settings, sim, stuck):
    sim.add_account(SimAccount(csesidx="5551234", secure_c_ses="pasted-ses", host_c_oses="pasted-oses",
                               team_id="0a1b2c3d-team"))
    response = paste(staff_client, stuck, "Cookie: NID=1; __Secure-C_SES=pasted-ses; __Host-C_OSES=pasted-oses",
                     "https://business.gemini.google/cid/0a1b2c3d-team?csesidx=5551234&mods=")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["ok"] is True and body["account"]["status"] == "active"
    assert "pasted-ses" not in response.content.decode()
    account = Account.objects.get(pk=stuck.pk)
    assert (account.team_id, account.csesidx, account.secure_c_ses, account.host_c_oses) == \
        ("0a1b2c3d-team", "5551234", "pasted-ses", "pasted-oses")
    assert account.attention_reason == "" and account.logged_in_at is not None
    profile = LoginProfile.objects.get(account=stuck)
    assert (profile.failure_streak, profile.next_attempt_at) == (0, None)


def test_an_extension_export_gives_the_login_its_cookie_expiry(staff_client, upstream_settings, sim, make_account):
    account = make_account()
    sim.add_account(SimAccount(csesidx="5550001", secure_c_ses="json-ses", host_c_oses="json-oses", team_id="t-9"))
    expiry = datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC)
    export = [{"domain": ".gemini.google", "name": "__Secure-C_SES", "value": "json-ses", "path": "/",
               "expirationDate": expiry.timestamp(), "secure": True},
              {"domain": "business.gemini.google", "name": "__Host-C_OSES", "value": "json-oses", "path": "/",
               "session": True}]
    response = paste(staff_client, account, json.dumps(export), f"{sim.url}/cid/t-9?csesidx=5550001")

    assert response.status_code == 200 and response.json()["ok"] is True
    assert Account.objects.get(pk=account.pk).login_expires_at == expiry


def test_dead_pasted_cookies_are_stored_and_reported_by_the_test(staff_client, upstream_settings, sim, make_account):
    account = make_account()
    response = paste(staff_client, account, "__Secure-C_SES=stale; __Host-C_OSES=stale2",
                     "https://business.gemini.google/cid/t-dead?csesidx=42")
    assert response.status_code == 200
    assert response.json()["ok"] is False and response.json()["status"] == "needs_login"


@pytest.mark.parametrize(("cookies", "url", "param"), [
    ("NID=1; other=2", "https://business.gemini.google/cid/t?csesidx=1", "cookies"),
    ("__Secure-C_SES=a; __Host-C_OSES=b", "https://business.gemini.google/home", "url"),
    ("__Secure-C_SES=a; __Host-C_OSES=b", "https://business.gemini.google/cid/t", "url"),
])
def test_a_paste_without_what_is_needed_says_which_input_to_fix(staff_client, make_account, cookies, url, param):
    account = make_account()
    response = paste(staff_client, account, cookies, url)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert Account.objects.get(pk=account.pk).secure_c_ses == account.secure_c_ses


def test_a_paste_that_names_another_accounts_seat_is_refused(staff_client, make_account):
    other, account = make_account(team_id="t-x", csesidx="77"), make_account()
    response = paste(staff_client, account, "__Secure-C_SES=a; __Host-C_OSES=b",
                     "https://business.gemini.google/cid/t-x?csesidx=77")
    assert response.status_code == 400 and response.json()["error"]["code"] == "duplicate_account"
    assert other.pk != account.pk and Account.objects.get(pk=account.pk).csesidx == account.csesidx
