"""The gevent worker's urllib3 tweak: zero-timeout checks go native, everything else stays cooperative."""
from __future__ import annotations

import runpy
import subprocess
import sys
import textwrap
from pathlib import Path

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
    print("ok")
""")


def test_zero_timeout_checks_are_native_and_real_waits_stay_cooperative():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_gunicorn_config_applies_it_to_gevent_workers_only(monkeypatch):
    calls = []
    monkeypatch.setattr("gempool_site.gevent_tuning.native_zero_timeout_polls", lambda: calls.append(True))
    for worker_class, expected in (("gevent", [True]), ("gthread", [])):
        calls.clear()
        monkeypatch.setenv("GEMPOOL_WORKER_CLASS", worker_class)
        config = runpy.run_path(str(GUNICORN_CONF))
        config["post_worker_init"](worker=None)
        assert calls == expected
