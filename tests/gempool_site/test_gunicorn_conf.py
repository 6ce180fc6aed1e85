"""gunicorn.conf.py reads the environment through the typed helpers: a bad value names the variable."""
from __future__ import annotations

import runpy
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
    assert (config["bind"], config["workers"], config["accesslog"]) == ("0.0.0.0:9000", 3, None)
    assert (config["worker_class"], config["loglevel"]) == ("gthread", "warning")


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
