"""A client trickling its request body is cut off at the body deadline instead of holding the connection."""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.gateway_process import ROOT, GatewayProcess

BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module", params=["gevent", "gthread"])
def gateway_with_deadline(request, simulator, tmp_path_factory):
    from django.conf import settings

    tmp_path = tmp_path_factory.mktemp(f"slow-body-{request.param}")
    process = GatewayProcess(database=f"sqlite:///{tmp_path / 'slow.sqlite3'}", upstream_url=simulator.url,
                             data_dir=str(tmp_path), secret_key=settings.SECRET_KEY,
                             extra_env={"GEMPOOL_BODY_TIMEOUT": str(BODY_TIMEOUT),
                                        "GEMPOOL_WORKER_CLASS": request.param})
    # A fresh SQLite database: /health needs its tables.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=process.env, check=True,
                   capture_output=True)
    created = subprocess.run([sys.executable, "manage.py", "createapikey", "slow-body"], cwd=ROOT, env=process.env,
                             check=True, capture_output=True, text=True)
    process.api_key = created.stdout.strip().splitlines()[-1]
    yield process.start()
    process.stop()


def _trickle(sock: socket.socket, stop: threading.Event) -> None:
    while not stop.wait(1.0):  # one byte a second, the probe's pace
        try:
            sock.sendall(b" ")
        except OSError:
            return


def test_a_body_sent_at_one_byte_a_second_is_cut_off_with_408(gateway_with_deadline):
    gateway = gateway_with_deadline
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
    stop = threading.Event()
    started = time.monotonic()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")
    trickler = threading.Thread(target=_trickle, args=(sock, stop), daemon=True)
    trickler.start()
    try:
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        elapsed = time.monotonic() - started
        while chunk:  # then the gateway closes the connection (recv() returns b"" or the reset)
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            answer += chunk
    finally:
        stop.set()
        trickler.join(timeout=5)
        sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"code":"request_timeout"' in answer.replace(b" ", b"")
    # Cut at the deadline: not before it, and long before the 100 s this body would take.
    assert BODY_TIMEOUT - 0.5 <= elapsed < BODY_TIMEOUT + 5, elapsed
    # The worker is free for everyone else.
    assert requests.get(gateway.url + "/health", timeout=5).status_code == 200


def test_a_body_that_arrives_in_time_reaches_the_application(gateway_with_deadline):
    response = requests.post(gateway_with_deadline.url + "/v1/chat/completions", json={"model": "x", "messages": []},
                             timeout=10)
    assert response.status_code == 401  # read whole and answered by the API, not by the deadline


def test_a_chunked_body_is_read_whole_too(gateway_with_deadline):
    def parts():
        yield b'{"model": "chunked-model-7", '
        yield b'"messages": [{"role": "user", "content": "hi"}]}'

    response = requests.post(gateway_with_deadline.url + "/v1/chat/completions", data=parts(), timeout=10,
                             headers={"Content-Type": "application/json",
                                      "Authorization": f"Bearer {gateway_with_deadline.api_key}"})
    # Parsed whole: the model it names is looked up (and unknown in this empty database).
    assert response.status_code == 404 and "chunked-model-7" in response.json()["error"]["message"]
