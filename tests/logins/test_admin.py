"""The admin's re-login pages: they render, mailbox secrets are masked and kept, jobs are read-only."""
from __future__ import annotations

import pytest

from logins.models import JobOutcome, JobTrigger, LoginProfile, Mailbox, RefreshJob

pytestmark = pytest.mark.django_db
SECRET = "admin-planted-Password-42"


def test_the_pages_render_without_showing_a_mailbox_secret(admin_client, make_account):
    box = Mailbox.objects.create(name="box", host="imap.mail.test", username="b@mail.test", password=SECRET,
                                 oauth_refresh_token=SECRET + "-token")
    account = make_account()
    LoginProfile.objects.create(account=account, email="b@mail.test", mailbox=box)
    RefreshJob.objects.create(account=account, trigger=JobTrigger.MANUAL, outcome=JobOutcome.FAILED, error="x")
    for url in ("/admin/logins/mailbox/", f"/admin/logins/mailbox/{box.pk}/change/", "/admin/logins/loginprofile/",
                "/admin/logins/refreshjob/"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode()


def test_saving_a_mailbox_with_blank_secrets_keeps_them(admin_client):
    box = Mailbox.objects.create(name="box", host="imap.mail.test", username="b@mail.test", password=SECRET)
    response = admin_client.post(f"/admin/logins/mailbox/{box.pk}/change/", {
        "name": "box", "kind": "imap_password", "host": "imap2.mail.test", "port": 993, "security": "tls",
        "verify_tls": "on", "username": "b@mail.test", "password": "", "oauth_client_id": "",
        "oauth_refresh_token": "", "oauth_tenant": "consumers", "folders": "INBOX,Junk"})
    assert response.status_code == 302
    box.refresh_from_db()
    assert (box.host, box.password) == ("imap2.mail.test", SECRET)


def test_refresh_now_from_the_admin_queues_accounts_with_a_mailbox(admin_client, make_account):
    box = Mailbox.objects.create(name="box", host="imap.mail.test", username="b@mail.test", password="pw")
    with_box = LoginProfile.objects.create(account=make_account(), email="a@mail.test", mailbox=box)
    without = LoginProfile.objects.create(account=make_account(), email="c@mail.test")
    admin_client.post("/admin/logins/loginprofile/", {"action": "refresh_now",
                                                      "_selected_action": [with_box.pk, without.pk]})
    assert LoginProfile.objects.get(pk=with_box.pk).refresh_requested_at is not None
    assert LoginProfile.objects.get(pk=without.pk).refresh_requested_at is None
