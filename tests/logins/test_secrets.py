"""Issue 15 (8d): a planted mailbox password and cookie never appear in a response, a log line or a file name."""
from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from accounts.models import Account
from logins.models import JobOutcome, Mailbox, RefreshJob
from tests.gateway_process import ROOT
from tests.logins.test_refreshworker import _worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]
PLANTED_PASSWORD = "PlantedMailboxPassword-5be1"
PLANTED_COOKIE = "PlantedCookie-ae77c1"


def test_secrets_stay_out_of_responses_logs_and_screenshot_names(refresh_settings, seat, login_sim, mailserver,
                                                                 staff_client):
    box = mailserver.add_mailbox(password=PLANTED_PASSWORD)
    mailbox = Mailbox.objects.create(name="planted", host=box.host, port=box.port, username=box.address,
                                     password=PLANTED_PASSWORD, catch_all=True)
    login_sim.configure_login(mail_routes={"*@seats.test": box.address})  # one catch-all for every seat
    good, good_sim, _ = seat(expires_in=60, catch_all=mailbox, secure_c_ses=PLANTED_COOKIE + "-1")
    stopped, _, _ = seat(expires_in=60, catch_all=mailbox, secure_c_ses=PLANTED_COOKIE + "-2")
    login_sim.add_fault("captcha", csesidx=stopped.csesidx, count=1)

    env = {**_worker_env(refresh_settings), "GEMPOOL_LOG_LEVEL": "DEBUG"}
    worker = subprocess.run([sys.executable, "manage.py", "refreshworker", "--once"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=240)
    logs = worker.stdout + worker.stderr

    outcomes = {job.account_id: job.outcome for job in RefreshJob.objects.all()}
    assert outcomes == {good.pk: JobOutcome.SUCCEEDED, stopped.pk: JobOutcome.HARD_STOP}, logs
    new_cookie = Account.objects.get(pk=good.pk).secure_c_ses
    assert new_cookie == good_sim.secure_c_ses
    secrets = [PLANTED_PASSWORD, PLANTED_COOKIE, new_cookie]
    assert "refresh succeeded" in logs and "refresh failed" in logs  # the log did speak, at DEBUG
    for secret in secrets:
        assert secret not in logs

    urls = ["/api/accounts", f"/api/accounts/{good.pk}", f"/api/accounts/{good.pk}/login", "/api/mailboxes",
            f"/api/mailboxes/{mailbox.pk}", "/api/refresh", "/api/refresh/jobs", "/api/dashboard", "/refresh/"]
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200
        assert not any(secret in response.content.decode() for secret in secrets), url

    shots = [path.name for path in (django_settings.DATA_DIR / "login-screenshots").iterdir()]
    assert RefreshJob.objects.get(account=stopped).screenshot in shots
    assert not any(secret in name for name in shots for secret in secrets)
