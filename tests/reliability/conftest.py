"""Fixtures for the reliability suite: a gateway with short timeouts, blackholes, process probes."""
from __future__ import annotations

import itertools
import os
import socket
import time
from pathlib import Path

import pytest
import requests

from tests.blackhole import blackhole_url
from tests.polling import wait_until  # noqa: F401 - the reliability tests import it from here

# Short enough that the whole fault matrix runs in seconds, long enough that loopback calls never hit them.
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.5
FAILOVER_DEADLINE = 2.5
# What a request may take past the limit it is held to: process scheduling, DB writes, SSE framing.
MARGIN = 1.5
FAST_ENV = {
    "GEMPOOL_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
    "GEMPOOL_READ_TIMEOUT": str(READ_TIMEOUT),
    "GEMPOOL_FAILOVER_DEADLINE": str(FAILOVER_DEADLINE),
    "GEMPOOL_KEEPALIVE_SECONDS": "0.3",
    "GEMPOOL_MAX_ATTEMPTS": "3",
}

_seat = itertools.count(1)


def unique_csesidx() -> str:
    """A seat id no other test (or earlier run against a long-lived gateway) has used: JWT caches are keyed on it."""
    return f"{os.getpid() % 10_000}{int(time.time() * 1000) % 10**7:07d}{next(_seat):03d}"


@pytest.fixture
def seat(pool_account):
    """pool_account with a never-used csesidx, so no JWT cached by a gateway from an earlier test applies."""

    def make(**fields):
        fields.setdefault("csesidx", unique_csesidx())
        return pool_account(**fields)

    return make


def start_gateway(simulator_url: str, *, extra_env: dict[str, str] | None = None):
    """A GatewayProcess on the test database (the caller stops it)."""
    from django.conf import settings as django_settings
    from django.db import connection

    from tests.gateway_process import GatewayProcess, database_url

    return GatewayProcess(database=database_url(connection.settings_dict), upstream_url=simulator_url,
                          data_dir=str(django_settings.DATA_DIR), secret_key=django_settings.SECRET_KEY,
                          extra_env={**FAST_ENV, **(extra_env or {})}).start()


@pytest.fixture(scope="session")
def fast_gateway(django_db_setup, django_db_blocker, simulator):
    """One gunicorn process with short upstream timeouts and failover deadline."""
    with django_db_blocker.unblock():
        process = start_gateway(simulator.url)
    yield process
    process.stop()


# ---- sockets that never answer -----------------------------------------------------------------


@pytest.fixture
def blackhole():
    """A loopback address whose connects time out (tests/blackhole.py)."""
    with blackhole_url() as url:
        yield url


@pytest.fixture
def refusing_port():
    """A loopback URL where nothing listens (connects are refused at once)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    sock.close()
    return f"http://{host}:{port}"


# ---- process probes (Linux /proc, no psutil) -------------------------------------------------------


def child_pids(pid: int) -> list[int]:
    """Direct children of a process."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def worker_pids(gateway) -> list[int]:
    """The gunicorn worker processes of a gateway (children of the master)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids = child_pids(gateway.process.pid)
        if pids:
            return pids
        time.sleep(0.05)
    raise AssertionError("gunicorn has no worker")


def thread_count(pid: int) -> int:
    """Threads: from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError(f"no Threads: line for {pid}")


ESTABLISHED, CLOSE_WAIT = "01", "08"  # TCP states as /proc/net/tcp writes them


def established_to(port: int) -> int:
    """ESTABLISHED TCP connections whose remote end is 127.0.0.1:<port> (the client sides)."""
    return _loopback_sockets((ESTABLISHED,), remote_port=port)


def served_connections(port: int) -> int:
    """Accepted TCP connections on local port <port> not closed by the server yet (ESTABLISHED, CLOSE_WAIT)."""
    return _loopback_sockets((ESTABLISHED, CLOSE_WAIT), local_port=port)


def _loopback_sockets(states: tuple[str, ...], *, local_port: int | None = None,
                      remote_port: int | None = None) -> int:
    """TCP sockets in one of `states` whose local and/or remote end is the given 127.0.0.1 port."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, remote, state = line.split()[1:4]
        if state in states and (local_port is None or local == f"0100007F:{local_port:04X}") \
                and (remote_port is None or remote == f"0100007F:{remote_port:04X}"):
            count += 1
    return count


# ---- talking to the gateway --------------------------------------------------------------------------


def chat(gateway, key: str, text: str, *, stream: bool, model: str = "gemini-2.5-flash",
         timeout: float = 30) -> requests.Response:
    """POST /v1/chat/completions; a streamed answer is read to the end before returning."""
    response = requests.post(gateway.url + "/v1/chat/completions", timeout=timeout, stream=stream,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]})
    response.content  # noqa: B018 - read the whole body (a stream to its end) before returning
    return response


def sse_events(body: bytes) -> list[str]:
    """The `data:` payloads of an SSE body, in order (comments dropped)."""
    return [line[len(b"data: "):].decode() for line in body.splitlines() if line.startswith(b"data: ")]
