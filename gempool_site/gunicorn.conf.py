"""gunicorn settings, from the environment (README: "Configuration")."""
from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))  # the project, for metering.multiproc

from metering import multiproc  # noqa: E402 - after the path; imports nothing of Django

bind = [os.environ.get("GEMPOOL_BIND", "127.0.0.1:8000")]
if os.environ.get("GEMPOOL_METRICS_BIND"):
    bind.append(os.environ["GEMPOOL_METRICS_BIND"])  # serves only /metrics (metering.middleware)
# Every worker writes its Prometheus samples into this gateway's directory; /metrics adds them up.
metrics_dir = multiproc.configure(data_dir=os.environ.get("GEMPOOL_DATA_DIR", str(PROJECT / "data")), bind=bind[0])
# gevent: a stream is a greenlet that mostly sleeps on the upstream socket. bench/results.md compares
# it with gthread, where hundreds of OS threads fought over the GIL (and SQLite's write lock) and
# 1000 concurrent streams failed; gthread stays selectable.
worker_class = os.environ.get("GEMPOOL_WORKER_CLASS", "gevent")
workers = int(os.environ.get("GEMPOOL_WORKERS", "1"))
threads = int(os.environ.get("GEMPOOL_THREADS", "512"))
worker_connections = int(os.environ.get("GEMPOOL_WORKER_CONNECTIONS", "2000"))
backlog = 2048
# Streams can last minutes; the worker timeout only watches worker liveness for gthread.
timeout = int(os.environ.get("GEMPOOL_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("GEMPOOL_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GEMPOOL_LOG_LEVEL", "info").lower()
# Authorization headers and query strings never go into the access log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# gunicorn's control socket lives at one fixed path per user; several gateways on a host would
# fight over it, and nothing here uses it.
control_socket_disable = True
forwarded_allow_ips = os.environ.get("GEMPOOL_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server) -> None:
    """In the master, before any worker: samples of a previous run must not add to this one's."""
    multiproc.empty(metrics_dir)


def child_exit(server, worker) -> None:
    """A worker ended (restart, crash): its live gauges stop counting; its counters stay in the sum."""
    multiproc.worker_exited(worker.pid)


def post_worker_init(worker) -> None:
    """Per worker, after the app is loaded (and, for gevent, after monkey-patching)."""
    if worker_class == "gevent":
        from gempool_site.gevent_tuning import native_zero_timeout_polls

        native_zero_timeout_polls()
