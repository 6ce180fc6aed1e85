"""The admin's account pages: edits go through the services and the life cycle, never a full save()."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountStatus

pytestmark = pytest.mark.django_db


def _form(account: Account, **fields) -> dict:
    return {"label": account.label, "team_id": account.team_id, "csesidx": account.csesidx, "user_agent": "",
            "enabled": "on", "secure_c_ses": "", "host_c_oses": "", "proxy_url": "", **fields}


def test_enabling_in_the_admin_keeps_a_dead_login_out_and_resets_the_rotation_place(admin_client, make_account):
    used = timezone.now() - timedelta(hours=1)
    account = make_account(enabled=False, status=AccountStatus.DISABLED, last_error_kind="login_required",
                           last_error_at=timezone.now(), last_used_at=used,
                           ready_at=timezone.now() + timedelta(hours=1))
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", _form(account))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.enabled, account.status, account.ready_at, account.cooldown_until) == (
        True, AccountStatus.NEEDS_LOGIN, used, None)


def test_new_cookies_in_the_admin_bring_the_account_back(admin_client, make_account):
    account = make_account(status=AccountStatus.NEEDS_ATTENTION, attention_reason="a CAPTCHA")
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/",
                                 _form(account, secure_c_ses="fresh-cookie"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.status, account.attention_reason, account.secure_c_ses) == (
        AccountStatus.ACTIVE, "", "fresh-cookie")
    assert account.logged_in_at is not None and account.login_expires_at > account.logged_in_at


def test_an_edit_in_the_admin_keeps_what_the_pool_counted_while_the_form_was_processed(admin_client, make_account,
                                                                                       monkeypatch):
    from accounts.admin import AccountForm

    account = make_account(request_count=3)
    validate = AccountForm.clean

    def clean_while_the_pool_serves(form):
        # Between the admin's read of the row and its write: the pool leases the account twice.
        Account.objects.filter(pk=account.pk).update(request_count=5)
        return validate(form)

    monkeypatch.setattr(AccountForm, "clean", clean_while_the_pool_serves)
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", _form(account, label="renamed"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.label, account.request_count) == ("renamed", 5)


def test_adding_in_the_admin_creates_an_account_with_its_login_times(admin_client):
    response = admin_client.post("/admin/accounts/account/add/", {
        "label": "new", "team_id": "team-x", "csesidx": "77", "user_agent": "", "secure_c_ses": "cookie",
        "host_c_oses": "", "proxy_url": ""})
    assert response.status_code == 302, response.content[:800]
    account = Account.objects.get(csesidx="77")
    assert (account.enabled, account.status) == (False, AccountStatus.DISABLED)  # the box was left unticked
    assert account.logged_in_at is not None
