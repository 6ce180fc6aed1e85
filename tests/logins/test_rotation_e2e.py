"""Issue 15 (8a): logins that expire every few seconds, a steady stream of chat, and nobody notices."""
from __future__ import annotations

import threading
import time

import openai
import pytest
from django.conf import settings as django_settings
from django.db import connection

from logins.models import JobOutcome, RefreshJob
from logins.worker import RefreshWorker
from tests.gateway_process import GatewayProcess, database_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow,
              pytest.mark.usefixtures("catalogue")]
LIFETIME = 30.0  # seconds a login lasts in the simulator (a refresh takes 2-15 s on a busy 2-core machine)
LIFETIMES = 3  # how long the stream of chat requests runs, in lifetimes
ACCOUNTS = 2


@pytest.fixture
def short_jwt_gateway(refresh_settings, login_sim):
    """A gateway whose JWTs are re-minted every 10 s, so its getoxsrf calls meet each login's expiry."""
    process = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=login_sim.url,
                             data_dir=str(django_settings.DATA_DIR), secret_key=django_settings.SECRET_KEY,
                             extra_env={"GEMPOOL_JWT_REFRESH_AFTER": "10", "GEMPOOL_SPARE_SESSION_MAX_AGE": "0"})
    yield process.start()
    process.stop()


def test_chat_keeps_succeeding_for_several_lifetimes_while_the_worker_refreshes(
        refresh_settings, login_sim, seat, short_jwt_gateway, api_key):
    login_sim.configure_login(lifetime=LIFETIME)
    refresh_settings.GEMPOOL_REFRESH_WINDOW_MINUTES = 20 / 60  # refresh 20 s before the login ends
    accounts = []
    for n in range(ACCOUNTS):  # logins staggered, as a real pool's are
        account, sim_account, _ = seat(expires_in=LIFETIME * (n + 1) / ACCOUNTS)
        sim_account.login_expires_at = time.time() + LIFETIME * (n + 1) / ACCOUNTS
        accounts.append(account)
    stop = threading.Event()
    worker = threading.Thread(target=RefreshWorker(browsers=ACCOUNTS, poll_seconds=0.5).run_forever, args=(stop,))
    worker.start()
    failures, answers = [], 0
    try:
        with openai.OpenAI(api_key=api_key[1], base_url=short_jwt_gateway.url + "/v1", max_retries=0,
                           timeout=30) as client:
            deadline = time.monotonic() + LIFETIME * LIFETIMES
            while time.monotonic() < deadline:
                try:
                    stream = client.chat.completions.create(model="gemini-2.5-flash", stream=True,
                                                            messages=[{"role": "user", "content": "ping"}])
                    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
                    assert "ping" in text
                    answers += 1
                except openai.APIError as exc:
                    failures.append(repr(exc))
                time.sleep(0.2)
    finally:
        stop.set()
        worker.join(timeout=120)

    jobs = [(job.account_id, f"{job.started_at:%H:%M:%S.%f}"[:-3], f"{job.finished_at:%H:%M:%S.%f}"[:-3], job.outcome,
             job.step, job.error) for job in RefreshJob.objects.order_by("started_at")]
    assert failures == [], jobs
    assert answers > LIFETIMES * 10
    succeeded = RefreshJob.objects.filter(outcome=JobOutcome.SUCCEEDED)
    for account in accounts:
        # Each login was replaced at least once per lifetime that ended during the stream.
        assert succeeded.filter(account=account).count() >= LIFETIMES - 1
    stats = login_sim.stats()
    assert stats["logins"] >= ACCOUNTS * (LIFETIMES - 1)
    # Besides the worker's checks, the gateway fetched tokens all along (every 10 s per account), so its
    # token fetches did meet the logins' expiry.
    assert stats["requests"]["getoxsrf"] - succeeded.count() >= ACCOUNTS * LIFETIMES
