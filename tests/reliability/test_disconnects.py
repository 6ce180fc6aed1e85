"""A client that hangs up mid-stream: the upstream is released at once, nothing leaks, nobody is blamed.

The gateway here keeps the default-like long read timeout (30 s), so a leak would show: a request
blocked on a silent upstream would otherwise sit there for the whole read timeout.
"""
from __future__ import annotations

import json
import logging
import socket
import time
from urllib.parse import urlsplit

import pytest

from accounts.models import Account, AccountStatus, RequestLog
from tests.reliability.conftest import (
    chat,
    established_to,
    served_connections,
    start_gateway,
    thread_count,
    wait_until,
    worker_pids,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

logger = logging.getLogger(__name__)
RELEASE_WITHIN = 2.0  # seconds after the hang-up by which everything must be back to the baseline


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def patient_gateway(request, django_db_setup, django_db_blocker, simulator):
    with django_db_blocker.unblock():
        process = start_gateway(simulator.url, extra_env={"GEMPOOL_WORKER_CLASS": request.param,
                                                          "GEMPOOL_READ_TIMEOUT": "30",
                                                          "GEMPOOL_FAILOVER_DEADLINE": "10",
                                                          "GEMPOOL_KEEPALIVE_SECONDS": "0.2"})
    yield process
    process.stop()


def _open_stream(gateway, key: str, text: str) -> socket.socket:
    """Send a streamed chat request over a raw socket and read until the first content delta arrived."""
    url = urlsplit(gateway.url)
    body = json.dumps({"model": "gemini-2.5-flash", "stream": True,
                       "messages": [{"role": "user", "content": text}]}).encode()
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (url.netloc.encode(), key.encode(), len(body), body))
    received = b""
    while b'"content"' not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the gateway closed the stream early: {received[-500:]!r}"
        received += chunk
    assert received.startswith(b"HTTP/1.1 200")
    return sock


def _baseline(gateway, key: str, sim) -> tuple[int, int, dict]:
    """Warm the worker's thread pool and upstream connection pool, then read the gauges once they are still."""
    response = chat(gateway, key, "warm up", stream=True)
    assert response.status_code == 200
    (worker,) = worker_pids(gateway)
    # gthread hands the warm-up connection's close to a pool thread too: were that still pending, the next
    # request would find no idle thread and the pool would grow by one (not the stream's doing).
    assert wait_until(lambda: served_connections(urlsplit(gateway.url).port) == 0, 10) is not None
    readings = [thread_count(worker)]
    while len(readings) < 3 or len(set(readings[-3:])) > 1:  # the spare-session thread may still be at work
        time.sleep(0.1)
        readings.append(thread_count(worker))
        assert len(readings) < 100, f"the worker's thread count never settled: {readings}"
    return worker, readings[-1], sim.stats()


@pytest.mark.parametrize("silence", [False, True], ids=["while-streaming", "during-a-long-silence"])
def test_a_hang_up_closes_the_upstream_and_leaks_nothing(patient_gateway, api_key, seat, sim, silence):
    account = seat()
    key = api_key[1]
    worker, threads_before, stats_before = _baseline(patient_gateway, key, sim)
    sim_port = urlsplit(sim.url).port
    upstream_before = established_to(sim_port)
    # 400 fragments 50 ms apart = a 20 s answer; or a first fragment, then 25 s of silence.
    directive = "[[sim:hang_mid_stream=25]]" if silence else "[[sim:fragments=400]][[sim:delay=0.05]]"
    sock = _open_stream(patient_gateway, key, f"{directive} tell me a long story")
    assert sim.stats()["streams"]["active"] == stats_before["streams"]["active"] + 1
    os_threads = patient_gateway.env["GEMPOOL_WORKER_CLASS"] == "gthread"  # gevent runs greenlets instead
    if os_threads:
        # The request's own pool thread reads the upstream: a stream keeps no thread of its own (the one
        # making the account's next spare session, started as the answer opens, ends on its own).
        assert wait_until(lambda: thread_count(worker) <= threads_before, 5) is not None

    hung_up = time.monotonic()
    sock.close()

    threads_back = (wait_until(lambda: thread_count(worker) <= threads_before, RELEASE_WITHIN + 1)
                    if os_threads else 0.0)
    upstream_back = wait_until(lambda: established_to(sim_port) <= upstream_before, RELEASE_WITHIN + 1)
    logger.warning("released after the hang-up: run thread in %s s, upstream socket in %s s",
                   threads_back, upstream_back)
    assert threads_back is not None and threads_back < RELEASE_WITHIN, "the run's thread outlived the client"
    assert upstream_back is not None and upstream_back < RELEASE_WITHIN, "the upstream socket stayed open"
    if not silence:
        # The simulator sees its peer go away (it notices on its next write, 50 ms later at most).
        stream_ended = wait_until(lambda: sim.stats()["streams"]["active"] <= stats_before["streams"]["active"],
                                  RELEASE_WITHIN)
        conn_closed = wait_until(lambda: sim.stats()["connections"]["open"] <= stats_before["connections"]["open"],
                                 RELEASE_WITHIN)
        assert stream_ended is not None and conn_closed is not None
    assert time.monotonic() - hung_up < 2 * RELEASE_WITHIN + 1

    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.cooldown_until is None
    assert (account.failure_count, account.consecutive_failures, account.last_error_kind) == (0, 0, "")
    # Recorded as the client's doing, not as a crash of the run.
    assert wait_until(lambda: RequestLog.objects.filter(error_kind="client_closed").exists(), 2) is not None
    assert "chat run crashed" not in patient_gateway.log_text()


def test_the_account_serves_the_next_request_right_after_a_hang_up(patient_gateway, api_key, seat):
    account = seat()
    sock = _open_stream(patient_gateway, api_key[1], "[[sim:fragments=200]][[sim:delay=0.05]] go on")
    sock.close()
    response = chat(patient_gateway, api_key[1], "next please", stream=False)
    assert response.json()["choices"][0]["message"]["content"].endswith("You said: next please")
    assert Account.objects.get(pk=account.pk).failure_count == 0
