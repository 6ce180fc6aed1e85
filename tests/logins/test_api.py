"""The re-login API: mailboxes with write-only secrets, login profiles, refresh now, jobs and screenshots."""
from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client

from logins.models import JobOutcome, JobTrigger, LoginProfile, Mailbox, RefreshJob

pytestmark = pytest.mark.django_db
PLANTED = "planted-Mailbox-Secret-91c2"
ROUTES = [("get", "/api/mailboxes"), ("post", "/api/mailboxes"), ("get", "/api/mailboxes/{box}"),
          ("put", "/api/mailboxes/{box}"), ("patch", "/api/mailboxes/{box}"), ("delete", "/api/mailboxes/{box}"),
          ("post", "/api/mailboxes/{box}/test"), ("get", "/api/accounts/{id}/login"),
          ("put", "/api/accounts/{id}/login"), ("post", "/api/accounts/{id}/refresh"), ("get", "/api/refresh"),
          ("get", "/api/refresh/jobs"), ("get", "/api/refresh/jobs/{job}/screenshot")]


def call(client: Client, method: str, url: str, body=None, **extra):
    if method in ("get", "delete"):
        return getattr(client, method)(url, **extra)
    return getattr(client, method)(url, data=json.dumps(body or {}), content_type="application/json", **extra)


def mailbox_body(**overrides) -> dict:
    body = {"name": "ops inbox", "host": "imap.mail.test", "port": 993, "username": "ops@mail.test",
            "password": PLANTED}
    body.update(overrides)
    return body


@pytest.fixture
def mailbox(db):
    return Mailbox.objects.create(name="catch-all", host="imap.mail.test", username="all@mail.test",
                                  password=PLANTED, catch_all=True)


@pytest.mark.parametrize(("method", "url"), ROUTES)
def test_only_operators_reach_the_login_api(client, api_key, make_account, mailbox, method, url):
    account = make_account()
    job = RefreshJob.objects.create(account=account, trigger=JobTrigger.MANUAL)
    url = url.format(id=account.pk, box=mailbox.pk, job=job.pk)
    assert call(client, method, url).status_code in (401, 403)
    assert call(client, method, url, HTTP_AUTHORIZATION=f"Bearer {api_key[1]}").status_code in (401, 403)
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()


@pytest.mark.parametrize("host", ["imap\x86.mail.test", "imap.mail.test/inbox", "ops@mail.test"])
def test_a_mailbox_host_that_is_no_host_name_is_refused_with_a_clear_message(staff_client, host):
    response = call(staff_client, "post", "/api/mailboxes", mailbox_body(host=host))
    assert response.status_code == 400
    assert "host name" in json.dumps(response.json())
    assert not Mailbox.objects.exists()


def test_testing_a_stored_mailbox_whose_host_cannot_be_encoded_reports_it_instead_of_failing(staff_client):
    box = Mailbox.objects.create(name="old", host="imap\x86.mail.test", username="a@mail.test", password=PLANTED)
    response = call(staff_client, "post", f"/api/mailboxes/{box.pk}/test")
    assert response.status_code != 500 and "not a valid host name" in json.dumps(response.json())


def test_a_mailbox_secret_is_write_only_and_kept_when_the_mask_comes_back(staff_client):
    created = call(staff_client, "post", "/api/mailboxes", mailbox_body())
    assert created.status_code == 201, created.json()
    assert PLANTED not in created.content.decode() and created.json()["password"].startswith("•")
    box = Mailbox.objects.get()
    assert box.password == PLANTED
    # Stored encrypted, like the cookies.
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM logins_mailbox WHERE id = %s", [box.pk])
        assert PLANTED not in cursor.fetchone()[0]

    echoed = {**created.json(), "host": "imap2.mail.test"}
    changed = call(staff_client, "put", f"/api/mailboxes/{box.pk}", echoed)
    assert changed.status_code == 200, changed.json()
    box.refresh_from_db()
    assert (box.host, box.password) == ("imap2.mail.test", PLANTED)
    listed = staff_client.get("/api/mailboxes")
    assert PLANTED not in listed.content.decode()


@pytest.mark.parametrize(("body", "field"), [
    (mailbox_body(password=""), "password"),
    (mailbox_body(kind="microsoft_oauth", password="", oauth_client_id="app"), "oauth_refresh_token"),
    (mailbox_body(folders=" , "), "folders"),
    (mailbox_body(security="plain"), "security"),
])
def test_a_bad_mailbox_is_refused_naming_the_field(staff_client, body, field):
    response = call(staff_client, "post", "/api/mailboxes", body)
    assert response.status_code == 400
    assert field in json.dumps(response.json()["error"])
    assert not Mailbox.objects.exists()


def test_an_account_gets_its_address_and_mailbox(staff_client, make_account, mailbox):
    account = make_account()
    response = call(staff_client, "put", f"/api/accounts/{account.pk}/login",
                    {"email": "seat@mail.test", "mailbox": mailbox.pk})
    assert response.status_code == 200, response.json()
    assert response.json()["mailbox"] == mailbox.pk
    assert LoginProfile.objects.get(account=account).email == "seat@mail.test"
    assert call(staff_client, "put", f"/api/accounts/{account.pk}/login",
                {"email": "not-an-address"}).status_code == 400


def test_refresh_now_needs_a_mailbox_and_then_queues_the_account(staff_client, make_account, mailbox):
    account = make_account()
    refused = staff_client.post(f"/api/accounts/{account.pk}/refresh")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "no_mailbox"

    LoginProfile.objects.create(account=account, email="seat@mail.test", mailbox=mailbox)
    accepted = staff_client.post(f"/api/accounts/{account.pk}/refresh")
    assert accepted.status_code == 202
    overview = staff_client.get("/api/refresh").json()
    assert [item["account"] for item in overview["queue"]] == [account.pk]


def test_jobs_are_listed_newest_first_and_filtered(staff_client, make_account):
    first, second = make_account(), make_account()
    RefreshJob.objects.create(account=first, trigger=JobTrigger.EXPIRING, outcome=JobOutcome.SUCCEEDED)
    RefreshJob.objects.create(account=second, trigger=JobTrigger.MANUAL, outcome=JobOutcome.HARD_STOP,
                              step="send_code", error="Google asked for a CAPTCHA")
    jobs = staff_client.get("/api/refresh/jobs").json()
    assert [job["account"] for job in jobs] == [second.pk, first.pk]
    hard = staff_client.get("/api/refresh/jobs?outcome=hard_stop").json()
    assert [(job["account"], job["error"]) for job in hard] == [(second.pk, "Google asked for a CAPTCHA")]
    bad = staff_client.get("/api/refresh/jobs?limit=0")
    assert bad.status_code == 400 and "limit" in json.dumps(bad.json()["error"])


def test_a_missing_screenshot_is_a_json_404(staff_client, make_account):
    job = RefreshJob.objects.create(account=make_account(), trigger=JobTrigger.MANUAL, screenshot="job-1.png")
    response = staff_client.get(f"/api/refresh/jobs/{job.pk}/screenshot")
    assert response.status_code == 404 and response.json()["error"]["code"] == "screenshot_not_found"


def test_a_screenshot_name_cannot_reach_outside_its_folder(staff_client, make_account):
    (settings.DATA_DIR / "outside.png").write_bytes(b"not for the API")  # what a traversal would serve
    job = RefreshJob.objects.create(account=make_account(), trigger=JobTrigger.MANUAL, screenshot="../outside.png")
    assert staff_client.get(f"/api/refresh/jobs/{job.pk}/screenshot").status_code == 404


def test_the_mailbox_test_logs_in_for_real(staff_client, settings, mailserver, mailbox):
    settings.GEMPOOL_MAILBOX_CA_FILE = mailserver.cafile
    real = mailserver.add_mailbox()
    box = Mailbox.objects.create(name="real", host=real.host, port=real.port, username=real.address,
                                 password=real.password)
    assert staff_client.post(f"/api/mailboxes/{box.pk}/test").json() == {"ok": True, "messages": 0}

    box.password = PLANTED
    box.save()
    refused = staff_client.post(f"/api/mailboxes/{box.pk}/test")
    assert refused.status_code == 502
    assert "refused the login" in refused.json()["error"]["message"]
    assert PLANTED not in refused.content.decode()


def test_the_dashboard_counts_logins_expiring_soon_and_accounts_needing_a_person(staff_client, make_account,
                                                                                 mailbox):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import AccountStatus

    now = timezone.now()
    make_account(login_expires_at=now + timedelta(minutes=90))  # expiring within 2 h
    make_account(login_expires_at=now + timedelta(hours=5))
    make_account(login_expires_at=now + timedelta(minutes=10), enabled=False, status=AccountStatus.DISABLED)
    make_account(status=AccountStatus.NEEDS_ATTENTION, attention_reason="CAPTCHA")  # a person
    make_account(status=AccountStatus.NEEDS_LOGIN)  # a person: no mailbox to renew it
    renewable = make_account(status=AccountStatus.NEEDS_LOGIN)  # the worker will handle it
    LoginProfile.objects.create(account=renewable, email="r@mail.test", mailbox=mailbox)

    logins = staff_client.get("/api/dashboard").json()["logins"]
    assert logins == {"expiring_within_2h": 1, "need_a_person": 2}


def test_a_staff_user_needs_the_logins_permissions(client, django_user_model, make_account, mailbox):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username="viewer", password="pw-12345678", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=["view_mailbox", "view_refreshjob"]))
    client.force_login(user)
    assert client.get("/api/mailboxes").status_code == 200
    assert client.get("/api/refresh/jobs").status_code == 200
    refused = call(client, "post", "/api/mailboxes", mailbox_body())
    assert refused.status_code == 403 and "logins.add_mailbox" in refused.json()["error"]["message"]
    assert client.post(f"/api/mailboxes/{mailbox.pk}/test").status_code == 403
    assert client.post(f"/api/accounts/{make_account().pk}/refresh").status_code == 403
