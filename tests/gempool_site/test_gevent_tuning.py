"""The gevent worker's urllib3 tweak: zero-timeout checks go native, everything else stays cooperative."""
from __future__ import annotations

import runpy
import textwrap
from pathlib import Path

from tests.script_run import assert_script_prints_ok

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gempool_site" / "gunicorn.conf.py"

SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import socket, time
    import gevent
    from urllib3.util import wait
    from gempool_site.gevent_tuning import native_zero_timeout_polls

    native_zero_timeout_polls()
    native_zero_timeout_polls()  # twice is harmless
    a, b = socket.socketpair()
    assert wait.wait_for_read(a, timeout=0.0) is False
    b.send(b"x")
    assert wait.wait_for_read(a, timeout=0.0) is True
    assert wait.wait_for_write(a, timeout=0.0) is True
    # A real wait stays cooperative: another greenlet runs while this one waits.
    c, d = socket.socketpair()
    ran = []
    gevent.spawn(lambda: ran.append(True))
    assert wait.wait_for_read(c, timeout=0.05) is False
    assert ran == [True]
    # ... and that real wait did not undo the tweak (urllib3 rebinds its dispatcher on first use).
    assert getattr(wait.wait_for_socket, "native_zero_timeout", False), wait.wait_for_socket
    # The pool's "did the peer close it?" check goes through the tweak with a zero timeout.
    import urllib3.connection
    conn = urllib3.connection.HTTPConnection("127.0.0.1", 9)
    conn.sock = a
    timeouts = []
    tweaked = wait.wait_for_socket

    def spy(sock, read=False, write=False, timeout=None):
        timeouts.append(timeout)
        return tweaked(sock, read, write, timeout)

    wait.wait_for_socket = spy
    assert conn.is_connected is False  # a byte is waiting: urllib3 reads that as "not reusable"
    wait.wait_for_socket = tweaked
    assert timeouts == [0.0], timeouts
    print("ok")
""")


def test_zero_timeout_checks_are_native_and_real_waits_stay_cooperative():
    assert_script_prints_ok(SCRIPT)


def test_the_gunicorn_config_applies_it_to_gevent_workers_only(monkeypatch):
    calls = []
    monkeypatch.setattr("gempool_site.gevent_tuning.native_zero_timeout_polls", lambda: calls.append(True))
    for worker_class, expected in (("gevent", [True]), ("gthread", [])):
        calls.clear()
        monkeypatch.setenv("GEMPOOL_WORKER_CLASS", worker_class)
        config = runpy.run_path(str(GUNICORN_CONF))
        config["post_worker_init"](worker=None)
        assert calls == expected


def test_urllib3_still_routes_its_waits_through_the_module_global_it_replaces():
    import inspect

    import urllib3.connection
    from urllib3.util import wait

    parameters = [(p.name, p.default) for p in inspect.signature(wait.wait_for_socket).parameters.values()]
    assert parameters == [("sock", inspect.Parameter.empty), ("read", False), ("write", False), ("timeout", None)]
    for checker in (wait.wait_for_read, wait.wait_for_write):
        # looked up by name in urllib3.util.wait's globals at call time, so replacing the global reaches it
        assert "wait_for_socket" in checker.__code__.co_names and checker.__globals__ is vars(wait)
    assert urllib3.connection.wait_for_read is wait.wait_for_read
    is_connected = inspect.getsource(urllib3.connection.HTTPConnection.is_connected.fget)
    assert "wait_for_read(self.sock, timeout=0.0)" in is_connected

