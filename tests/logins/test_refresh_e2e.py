"""End to end: the worker logs accounts in again through the simulator's pages and a real Dovecot."""
from __future__ import annotations

import http.client
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.utils import timezone

from accounts.models import AccountStatus
from logins.models import JobOutcome, JobTrigger, LoginProfile, RefreshJob
from logins.worker import RefreshWorker
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def test_the_worker_refreshes_an_expiring_login_and_the_account_serves_again(refresh_settings, seat, login_sim):
    login_sim.configure_login(lifetime=3600)
    account, sim_account, _ = seat(expires_in=30 * 60)  # inside the 60-minute window

    jobs = RefreshWorker(browsers=1).run_once()

    assert [(job.account_id, job.outcome, job.trigger) for job in jobs] == \
        [(account.pk, JobOutcome.SUCCEEDED, JobTrigger.EXPIRING)]
    account.refresh_from_db()
    assert account.secure_c_ses == sim_account.secure_c_ses and account.secure_c_ses.startswith("CSES.")
    assert account.host_c_oses == sim_account.host_c_oses
    assert account.status == AccountStatus.ACTIVE
    assert abs((account.login_expires_at - (timezone.now() + timedelta(hours=1))).total_seconds()) < 60
    assert account.logged_in_at is not None and "Chrome" in account.user_agent
    profile = LoginProfile.objects.get(account=account)
    assert profile.trial_days_left == 30 and profile.failure_streak == 0
    assert RefreshJob.objects.get().new_login_expires_at == account.login_expires_at


def test_an_account_whose_login_is_far_from_expiry_is_left_alone(refresh_settings, seat):
    seat(expires_in=5 * 3600)

    assert RefreshWorker(browsers=1).run_once() == []
    assert not RefreshJob.objects.exists()


def test_an_account_that_went_to_needs_login_is_refreshed(refresh_settings, seat):
    account, sim_account, _ = seat(expires_in=5 * 3600, status=AccountStatus.NEEDS_LOGIN)

    [job] = RefreshWorker(browsers=1).run_once()

    assert (job.outcome, job.trigger) == (JobOutcome.SUCCEEDED, JobTrigger.NEEDS_LOGIN)
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.secure_c_ses == sim_account.secure_c_ses


class ForwardProxy:
    """A plain-HTTP forward proxy on loopback that records every URL it carried."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                proxy.seen.append(self.path)
                target = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")
                           and k.lower() not in ("connection", "keep-alive")}
                upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                upstream.request(self.command, urlunsplit(("", "", target.path, target.query, "")), body=body or None,
                                 headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = _forward

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


def test_the_browser_goes_through_the_accounts_own_proxy(refresh_settings, seat, login_sim):
    proxy = ForwardProxy()
    try:
        account, sim_account, _ = seat(expires_in=60, proxy_url=proxy.url)
        [job] = RefreshWorker(browsers=1).run_once()
    finally:
        proxy.httpd.shutdown()

    assert job.outcome == JobOutcome.SUCCEEDED, (job.step, job.error)
    paths = {urlsplit(url).path for url in proxy.seen}
    assert {"/login", "/login/email", "/v1/verify-oob-code", f"/cid/{sim_account.team_id}", "/auth/getoxsrf"} <= paths


def test_a_running_attempt_shows_the_step_it_is_at(refresh_settings, seat, login_sim):
    account, _, _ = seat(expires_in=60)
    login_sim.add_fault("slow_mail=3", csesidx=account.csesidx, count=1)
    worker = threading.Thread(target=RefreshWorker(browsers=1).run_once)
    worker.start()
    try:
        seen = wait_until(lambda: RefreshJob.objects.filter(outcome=JobOutcome.RUNNING, step="wait_code").exists(),
                          timeout=60, interval=0.1)
    finally:
        worker.join(timeout=120)
    assert seen is not None
    assert RefreshJob.objects.get().outcome == JobOutcome.SUCCEEDED
