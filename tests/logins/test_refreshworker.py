"""manage.py refreshworker: separate processes on one database never refresh the same account twice."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import Account
from logins.flow import browser_proxy
from logins.models import JobOutcome, RefreshJob
from tests.gateway_process import ROOT, database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ACCOUNTS = 4


def _worker_env(settings) -> dict[str, str]:
    names = ["GEMPOOL_AUTH_URL", "GEMPOOL_API_URL", "GEMPOOL_LOGIN_AUTH_URL", "GEMPOOL_LOGIN_VERIFY_URL",
             "GEMPOOL_LOGIN_BUSINESS_URL", "GEMPOOL_LOGIN_FLOW_FILE", "GEMPOOL_MAILBOX_CA_FILE",
             "GEMPOOL_REFRESH_CHROMIUM"]
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("GEMPOOL_", "DJANGO_", "DATABASE_URL"))},
            **{name: str(getattr(settings, name)) for name in names},
            "DJANGO_SETTINGS_MODULE": "gempool_site.settings", "DATABASE_URL": database_url(connection.settings_dict),
            "GEMPOOL_DATA_DIR": str(django_settings.DATA_DIR), "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
            "GEMPOOL_LOG_LEVEL": "INFO"}


def test_two_workers_refresh_each_account_exactly_once(refresh_settings, seat):
    accounts = [seat(expires_in=60)[0] for _ in range(ACCOUNTS)]
    env = _worker_env(refresh_settings)
    command = [sys.executable, "manage.py", "refreshworker", "--once", "--browsers", "2"]
    workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=240)[0] for worker in workers]

    assert [worker.returncode for worker in workers] == [0, 0], outputs
    jobs = list(RefreshJob.objects.all())
    assert Counter(job.account_id for job in jobs) == Counter({account.pk: 1 for account in accounts}), outputs
    assert {job.outcome for job in jobs} == {JobOutcome.SUCCEEDED}, [(j.step, j.error) for j in jobs]
    assert all(Account.objects.get(pk=a.pk).secure_c_ses.startswith("CSES.") for a in accounts)


def test_a_bad_flow_file_stops_the_command_with_its_reason(settings, tmp_path):
    bad = tmp_path / "flow.json"
    bad.write_text('{"selectors": {"code_input": "not a list"}}')
    settings.GEMPOOL_LOGIN_FLOW_FILE = str(bad)
    with pytest.raises(CommandError, match="selectors.code_input has the wrong type"):
        call_command("refreshworker", "--once")


def test_a_missing_chromium_is_named(settings, tmp_path):
    settings.GEMPOOL_REFRESH_CHROMIUM = str(tmp_path / "no-chromium")
    with pytest.raises(CommandError, match="no Chromium at .*no-chromium"):
        call_command("refreshworker", "--once")


def test_headed_without_a_display_asks_for_xvfb(settings, monkeypatch):
    settings.GEMPOOL_REFRESH_HEADLESS = False
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(CommandError, match="xvfb-run"):
        call_command("refreshworker", "--once")


def test_the_browser_gets_the_proxy_with_its_credentials_apart():
    assert browser_proxy(None) is None
    assert browser_proxy("http://proxy.example:3128") == {"server": "http://proxy.example:3128"}
    assert browser_proxy("socks5://user:p%40ss@10.0.0.2:1080") == {
        "server": "socks5://10.0.0.2:1080", "username": "user", "password": "p@ss"}


def test_a_flow_file_broken_while_the_worker_runs_fails_the_attempt_not_the_worker(settings, tmp_path, make_account):
    from datetime import timedelta

    from django.utils import timezone

    from logins.models import LoginProfile, Mailbox
    from logins.worker import RefreshWorker

    account = make_account(login_expires_at=timezone.now() + timedelta(minutes=5))
    box = Mailbox.objects.create(name="m", host="127.0.0.1", port=1, username="m@mail.test", password="pw")
    LoginProfile.objects.create(account=account, email="m@mail.test", mailbox=box)
    bad = tmp_path / "flow.json"
    bad.write_text("{broken")
    settings.GEMPOOL_LOGIN_FLOW_FILE = str(bad)

    [job] = RefreshWorker(browsers=1).run_once()

    assert (job.outcome, job.step) == (JobOutcome.FAILED, "start")
    assert "not valid JSON" in job.error
    assert LoginProfile.objects.get(account=account).failure_streak == 1
