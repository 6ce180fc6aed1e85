"""No lost or half-written data: atomic imports over HTTP, SIGKILL mid-burst, no "database is locked" for clients.

tests/accounts/test_config_io.py covers the import service (bad rows, a failure midway); here the same
guarantees are checked through /api/config/import, and then under a concurrent write burst against two
gunicorn workers that is ended by SIGKILL.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import signal
import threading

import pytest
import requests
from django.db import connection

from accounts.models import Account, ApiKey, PoolSettings, RequestLog
from tests.reliability.conftest import child_pids, start_gateway, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

BATCH = 6  # accounts per imported config
_batches = itertools.count(1)


def _config(batch: int, *, broken_row: int | None = None) -> dict:
    rows = [{"team_id": f"batch-{batch}", "csesidx": f"{batch}{i:03d}", "secure_c_ses": f"c-{batch}-{i}",
             "host_c_oses": "", "user_agent": "burst", "available": True} for i in range(BATCH)]
    if broken_row is not None:
        del rows[broken_row]["secure_c_ses"]
    return {"proxy": "", "proxy_enabled": False, "accounts": rows}


def _snapshot() -> tuple:
    return (sorted(Account.objects.values_list("team_id", "csesidx", "secure_c_ses")),
            PoolSettings.objects.values_list("proxy_url", "proxy_enabled").first())


# ---- the HTTP import is all or nothing ----------------------------------------------------------------


@pytest.fixture
def admin_headers(admin_key):
    return {"HTTP_AUTHORIZATION": f"Bearer {admin_key[1]}"}


def test_an_http_import_with_one_bad_row_changes_nothing(client, admin_headers, make_account):
    make_account()
    before = _snapshot()
    response = client.post("/api/config/import", data=json.dumps(_config(1, broken_row=BATCH - 1)),
                           content_type="application/json", **admin_headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and any(f"accounts[{BATCH - 1}]" in p for p in error["problems"])
    assert _snapshot() == before


def test_an_http_import_that_fails_midway_rolls_back_everything(client, admin_headers, monkeypatch, settings):
    from accounts import config_io

    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True  # "p" is no public host

    original, calls = config_io._import_account, itertools.count(1)

    def failing(row):
        if next(calls) == BATCH - 1:
            raise OSError("disk full")  # after the settings and four accounts were written
        return original(row)

    monkeypatch.setattr(config_io, "_import_account", failing)
    before = _snapshot()
    response = client.post("/api/config/import?dry_run=0", data=json.dumps({**_config(2), "proxy": "http://p:1",
                                                                          "proxy_enabled": True}),
                           content_type="application/json", **admin_headers)
    assert response.status_code == 500
    assert set(response.json()["error"]) >= {"message", "type", "param", "code"}
    assert "disk full" not in response.content.decode()
    assert _snapshot() == before


def test_a_dry_run_over_http_writes_nothing(client, admin_headers):
    before = _snapshot()
    response = client.post("/api/config/import?dry_run=true", data=json.dumps(_config(3)),
                           content_type="application/json", **admin_headers)
    assert response.status_code == 200 and response.json()["accounts_created"] == BATCH
    assert _snapshot() == before


# ---- a write burst against two workers, then SIGKILL -------------------------------------------------------


class Burst:
    """Threads hammering the gateway with chats, key creations and imports; every answer is kept."""

    def __init__(self, gateway, chat_key: str, admin_key: str, threads: int = 9) -> None:
        self.gateway, self.chat_key, self.admin_key = gateway, chat_key, admin_key
        self.stop = threading.Event()
        self.answers: list[tuple[str, int, str]] = []
        self.imported: list[int] = []  # batches whose import answered 200
        self._lock = threading.Lock()
        kinds = itertools.cycle([self._chat, self._create_key, self._import])
        self._threads = [threading.Thread(target=self._loop, args=(next(kinds),), daemon=True) for _ in range(threads)]

    def __enter__(self) -> Burst:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=20)

    def under_way(self, answers: int) -> bool:
        """At least `answers` answers are back, of every kind."""
        with self._lock:
            kinds = {kind for kind, _, _ in self.answers}
            return len(self.answers) >= answers and kinds == {"chat", "key", "import"}

    def _loop(self, action) -> None:
        while not self.stop.is_set():
            try:
                kind, response = action()
            except requests.RequestException:
                continue  # the server was killed under us
            with self._lock:
                self.answers.append((kind, response.status_code, response.text))

    def _post(self, path: str, key: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return requests.post(self.gateway.url + path, headers=headers, timeout=20, **kwargs)

    def _chat(self):
        stream = random.random() < 0.5
        body = {"model": "gemini-2.5-flash", "stream": stream, "messages": [{"role": "user", "content": "burst"}]}
        return "chat", self._post("/v1/chat/completions", self.chat_key, json=body)

    def _create_key(self):
        return "key", self._post("/api/keys", self.admin_key, json={"name": f"burst {random.random()}"})

    def _import(self):
        batch = next(_batches)
        response = self._post("/api/config/import", self.admin_key, data=json.dumps(_config(batch)))
        if response.status_code == 200:
            with self._lock:
                self.imported.append(batch)
        return "import", response


@pytest.fixture
def two_workers(django_db_setup, simulator):
    process = start_gateway(simulator.url, extra_env={"GEMPOOL_WORKERS": "2", "GEMPOOL_THREADS": "16"})
    yield process
    process.stop()


def _kill_hard(gateway) -> None:
    """SIGKILL the workers and the master, as a power cut or the OOM killer would."""
    for pid in [*child_pids(gateway.process.pid), gateway.process.pid]:
        os.kill(pid, signal.SIGKILL)
    gateway.process.wait(timeout=10)


def assert_database_consistent() -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA integrity_check")
            assert cursor.fetchall() == [("ok",)]
            cursor.execute("PRAGMA foreign_key_check")
            assert cursor.fetchall() == []
    for account in Account.objects.all():
        counters = (account.request_count, account.success_count, account.failure_count,
                    account.consecutive_failures, account.cooldown_streak)
        assert min(counters) >= 0, account
        assert account.success_count + account.failure_count <= account.request_count, counters
    for team_id in set(Account.objects.filter(team_id__startswith="batch-").values_list("team_id", flat=True)):
        assert Account.objects.filter(team_id=team_id).count() == BATCH, f"{team_id} is half-imported"
    assert not ApiKey.objects.filter(key_hash="").exists() and not ApiKey.objects.filter(prefix="").exists()
    assert not RequestLog.objects.filter(attempts__lt=0).exists()


def test_a_write_burst_never_shows_database_is_locked_and_sigkill_leaves_a_consistent_database(
        two_workers, seat, api_key, admin_key):
    seat(), seat()
    with Burst(two_workers, api_key[1], admin_key[1]) as burst:
        assert wait_until(lambda: burst.under_way(answers=20) and burst.imported, 60) is not None, (
            f"the burst got {len(burst.answers)} answers in 60 s, not 20 of every kind with an import in")
    calm = list(burst.answers)
    kinds = {kind for kind, _, _ in calm}
    assert kinds == {"chat", "key", "import"} and len(calm) >= 20, f"{len(calm)} answers"
    assert not [a for a in calm if "database is locked" in a[2].lower()]
    assert not [a for a in calm if a[1] >= 500 and a[0] != "chat"], "a write failed"
    assert not [a for a in calm if a[1] == 500], "a 500 reached a client"
    assert burst.imported and all(Account.objects.filter(team_id=f"batch-{b}").count() == BATCH
                                  for b in burst.imported)

    with Burst(two_workers, api_key[1], admin_key[1]) as burst:
        # Mid-burst: once every kind has answered, requests, transactions and streams are in flight.
        assert wait_until(lambda: burst.under_way(answers=6), 60) is not None, (
            f"the burst got only {len(burst.answers)} answers in 60 s")
        _kill_hard(two_workers)
    assert_database_consistent()
    assert not [a for a in burst.answers if "database is locked" in a[2].lower()]
