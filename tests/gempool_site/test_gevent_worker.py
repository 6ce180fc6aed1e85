"""The gevent worker's direct send: one send where the socket has room, gevent's sendall for the rest."""
from __future__ import annotations

import inspect
import runpy
import textwrap
from pathlib import Path

from gunicorn.workers.ggevent import GeventWorker as GunicornGeventWorker

from gempool_site.gevent_worker import GeventWorker
from tests.script_run import assert_script_prints_ok

ROOT = Path(__file__).resolve().parents[2]
GUNICORN_CONF = ROOT / "gempool_site" / "gunicorn.conf.py"

SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import socket
    import gevent
    from gempool_site.gevent_worker import DirectSendSocket

    cooperative = []
    real_sendall = type(socket.socket()).sendall
    def counting_sendall(self, data, flags=0):
        cooperative.append(len(data))
        return real_sendall(self, data, flags)
    type(socket.socket()).sendall = counting_sendall

    a, b = socket.socketpair()
    a.setblocking(True)  # as gunicorn's gevent worker sets its connections
    conn = DirectSendSocket(a)
    event = b"data: " + b"x" * 200 + b"\\n\\n"
    conn.sendall(event)
    assert b.recv(1000) == event
    assert cooperative == [], cooperative  # one direct send took it all

    # More than the socket can hold, to a reader that takes its time: the rest waits cooperatively.
    big = bytes(range(256)) * (32 * 1024)  # 8 MiB
    received = bytearray()
    def slow_reader():
        while len(received) < len(big):
            gevent.sleep(0.001)
            received.extend(b.recv(1 << 20))
    reader = gevent.spawn(slow_reader)
    conn.sendall(big)
    reader.join(30)
    assert bytes(received) == big
    assert len(cooperative) == 1 and 0 < cooperative[0] < len(big), cooperative

    # Everything else is the gevent socket's own.
    assert conn.fileno() == a.fileno() and conn.gettimeout() is None

    # A client that left: the error gevent's sendall would raise.
    b.close()
    try:
        for _ in range(100):
            conn.sendall(event)
    except (BrokenPipeError, ConnectionResetError):
        print("ok")
""")


def test_a_piece_leaves_in_one_direct_send_and_only_a_remainder_waits_for_room():
    assert_script_prints_ok(SCRIPT)


def test_gevent_keeps_a_non_blocking_os_socket_under_its_own():
    """What DirectSendSocket relies on: gevent's socket holds the OS socket as `_sock`, never blocking."""
    import gevent.socket

    sock = gevent.socket.socket()
    try:
        sock.settimeout(None)
        assert sock._sock.gettimeout() == 0.0
    finally:
        sock.close()


def test_gunicorn_hands_handle_the_connection_every_response_writes_to():
    """DirectSendSocket reaches gunicorn's writes through handle(listener, client, addr)."""
    assert issubclass(GeventWorker, GunicornGeventWorker)
    parameters = list(inspect.signature(GunicornGeventWorker.handle).parameters)
    assert parameters == ["self", "listener", "client", "addr"]
    body = inspect.getsource(GunicornGeventWorker.__mro__[1].handle)  # AsyncWorker.handle: the keep-alive loop
    assert "self.handle_request(listener_name, req, client, addr)" in body


def test_the_gunicorn_config_runs_gevent_connections_through_it(monkeypatch):
    monkeypatch.setenv("GEMPOOL_WORKER_CLASS", "gevent")
    assert runpy.run_path(str(GUNICORN_CONF))["worker_class"] == "gempool_site.gevent_worker.GeventWorker"
    monkeypatch.setenv("GEMPOOL_WORKER_CLASS", "gthread")
    assert runpy.run_path(str(GUNICORN_CONF))["worker_class"] == "gthread"
