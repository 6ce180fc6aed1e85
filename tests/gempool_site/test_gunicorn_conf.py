"""gunicorn.conf.py reads the environment through the typed helpers: a bad value names the variable."""
from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gempool_site" / "gunicorn.conf.py"


def test_the_gunicorn_config_refuses_a_bad_value_naming_the_variable(monkeypatch):
    for name, value, message in (("GEMPOOL_WORKERS", "two", "GEMPOOL_WORKERS must be a whole number"),
                                 ("GEMPOOL_BIND", "8000", "GEMPOOL_BIND must look like HOST:PORT"),
                                 ("GEMPOOL_WORKER_CLASS", "eventlet", "GEMPOOL_WORKER_CLASS must be one of"),
                                 ("GEMPOOL_LOG_LEVEL", "loud", "GEMPOOL_LOG_LEVEL must be one of")):
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(ImproperlyConfigured, match=message):
                runpy.run_path(str(GUNICORN_CONF))


def test_the_gunicorn_config_reads_good_values(monkeypatch):
    for name, value in (("GEMPOOL_BIND", "0.0.0.0:9000"), ("GEMPOOL_WORKERS", "3"), ("GEMPOOL_ACCESS_LOG", ""),
                        ("GEMPOOL_WORKER_CLASS", "GThread"), ("GEMPOOL_LOG_LEVEL", "WARNING")):
        monkeypatch.setenv(name, value)
    config = runpy.run_path(str(GUNICORN_CONF))
    assert (config["bind"], config["workers"], config["accesslog"]) == (["0.0.0.0:9000"], 3, None)
    assert (config["worker_class"], config["loglevel"]) == ("gthread", "warning")


def test_a_metrics_bind_adds_a_listener_and_the_samples_dir_reaches_the_workers(monkeypatch, tmp_path):
    for name, value in (("GEMPOOL_BIND", "127.0.0.1:9000"), ("GEMPOOL_METRICS_BIND", "127.0.0.1:9464"),
                        ("GEMPOOL_DATA_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    config = runpy.run_path(str(GUNICORN_CONF))
    assert config["bind"] == ["127.0.0.1:9000", "127.0.0.1:9464"]
    assert config["raw_env"] == [f"PROMETHEUS_MULTIPROC_DIR={config['metrics_dir']}"]
    assert config["metrics_dir"].parent == tmp_path / "prometheus"


def test_a_metrics_bind_on_the_main_port_is_refused(monkeypatch):
    monkeypatch.setenv("GEMPOOL_BIND", "127.0.0.1:9000")
    monkeypatch.setenv("GEMPOOL_METRICS_BIND", "0.0.0.0:9000")
    with pytest.raises(ImproperlyConfigured, match="GEMPOOL_METRICS_BIND needs a port of its own"):
        runpy.run_path(str(GUNICORN_CONF))


def test_by_default_there_is_one_worker_per_usable_cpu(monkeypatch):
    from gempool_site.cpus import available_cpus

    monkeypatch.delenv("GEMPOOL_WORKERS", raising=False)
    assert runpy.run_path(str(GUNICORN_CONF))["workers"] == available_cpus()


def test_connections_the_gevent_worker_accepts_have_nagle_off():
    """SSE headers and each chunk are separate small writes: with Nagle on, the client's delayed ACK would
    hold the first chunk back ~40 ms. gunicorn sets TCP_NODELAY on its listener; accepted sockets inherit it."""
    import logging
    import socket

    import gevent.socket
    from gunicorn import sock as gunicorn_sock
    from gunicorn.config import Config

    config = Config()
    config.set("bind", "127.0.0.1:0")
    (listener,) = gunicorn_sock.create_sockets(config, logging.getLogger("gunicorn.error"))
    accepting = gevent.socket.socket(fileno=listener.sock.fileno())  # as the gevent worker wraps it
    client = socket.create_connection(listener.sock.getsockname()[:2], timeout=5)
    accepted, _ = accepting.accept()
    try:
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        accepted.close()
        client.close()
        accepting.detach()
        listener.close()


ON_STARTING_SCRIPT = """
import runpy, sys
config = runpy.run_path(sys.argv[1])
config["on_starting"](None)
import rest_framework.compat
import rest_framework.renderers  # DRF's modules load without it
assert rest_framework.compat.pygments is None and sys.modules["pygments"] is None
print("ok")
"""


def test_the_master_keeps_pygments_out_of_the_workers(tmp_path):
    """DRF imports Pygments whenever it is installed, only for the browsable API, which gempool does not serve."""
    env = {**os.environ, "GEMPOOL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "gempool_site.settings"}
    result = subprocess.run([sys.executable, "-c", ON_STARTING_SCRIPT, str(GUNICORN_CONF)], capture_output=True,
                            text=True, timeout=60, check=False, env=env, cwd=GUNICORN_CONF.parents[1])
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


POST_WORKER_INIT_SCRIPT = """
import gc, json, runpy, sys
import django
django.setup()
config = runpy.run_path(sys.argv[1])
before = {"views": "openai_api.views" in sys.modules, "frozen": gc.get_freeze_count()}
config["post_worker_init"](None)
print(json.dumps([before, {"views": "openai_api.views" in sys.modules, "frozen": gc.get_freeze_count()}]))
"""


def test_a_worker_freezes_what_it_loaded_at_start_up_the_views_included(tmp_path):
    """Start-up objects live as long as the worker: frozen, no full collection walks them again (gc_freeze)."""
    env = {**os.environ, "GEMPOOL_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "gempool_site.settings",
           "GEMPOOL_WORKER_CLASS": "gthread"}
    result = subprocess.run([sys.executable, "-c", POST_WORKER_INIT_SCRIPT, str(GUNICORN_CONF)], capture_output=True,
                            text=True, timeout=60, check=False, env=env, cwd=GUNICORN_CONF.parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = json.loads(result.stdout)
    assert before == {"views": False, "frozen": 0}  # the first request would load the views; nothing frozen yet
    assert after["views"] and after["frozen"] > 50_000
