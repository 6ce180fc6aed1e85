"""gunicorn settings, from the environment (README: "Configuration").

Read through gempool_site.env like the Django settings, so a bad value stops gunicorn with a message naming
the variable. (gunicorn puts its working directory, the project root, on sys.path before loading this file.)
"""
from __future__ import annotations

import sys
from pathlib import Path

from gempool_site.cpus import available_cpus
from gempool_site.env import LOG_LEVELS, database_from_url, env_bind, env_choice, env_extra_bind, env_int, env_str
from metering import multiproc

bind = [env_bind("GEMPOOL_BIND", "127.0.0.1:8000")]
if metrics_bind := env_extra_bind("GEMPOOL_METRICS_BIND", main_bind=bind[0]):
    bind.append(metrics_bind)  # serves only /metrics (metering.middleware)
# Every worker writes its Prometheus samples into this gateway's directory; /metrics adds them up.
metrics_dir = multiproc.chosen_directory(
    data_dir=env_str("GEMPOOL_DATA_DIR", str(Path(__file__).resolve().parent.parent / "data")), bind=bind[0])
raw_env = [f"{multiproc.ENV}={metrics_dir}"]  # set by the master for itself and every worker
# gevent: a stream is a greenlet that mostly sleeps on the upstream socket. bench/results.md compares
# it with gthread, where hundreds of OS threads fought over the GIL (and SQLite's write lock) and
# 1000 concurrent streams failed; gthread stays selectable.
# gempool_site/gevent_worker.py is gunicorn's gevent worker with a cheaper write per streamed event.
worker_kind = env_choice("GEMPOOL_WORKER_CLASS", "gevent", ("gevent", "gthread"))
worker_class = "gempool_site.gevent_worker.GeventWorker" if worker_kind == "gevent" else worker_kind
# One gevent worker per usable CPU: a worker is one event loop, so one core; a single worker saturates its
# core at about 150-200 completions/s and leaves the others idle (bench/README.md, "Workers").
# Without REDIS_URL the workers share their cache through a SQLite file (settings.CACHES).
workers = env_int("GEMPOOL_WORKERS", available_cpus(), minimum=1)
threads = env_int("GEMPOOL_THREADS", 512, minimum=1)
worker_connections = env_int("GEMPOOL_WORKER_CONNECTIONS", 2000, minimum=1)
backlog = 2048
# Streams can last minutes; the worker timeout only watches worker liveness for gthread.
timeout = env_int("GEMPOOL_WORKER_TIMEOUT", 120, minimum=0)
graceful_timeout = 30
keepalive = 5
accesslog = env_str("GEMPOOL_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = env_choice("GEMPOOL_LOG_LEVEL", "info", LOG_LEVELS)
# Authorization headers and query strings never go into the access log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
# gunicorn's control socket lives at one fixed path per user; several gateways on a host would
# fight over it, and nothing here uses it.
control_socket_disable = True
forwarded_allow_ips = env_str("GEMPOOL_FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server) -> None:
    """In the master, before any worker: samples of a previous run must not add to this one's, and optional
    modules DRF would import for nothing are kept out of the workers."""
    multiproc.empty(metrics_dir)
    # DRF's compat module imports Pygments whenever it is installed (pytest brings it), for the browsable API's
    # code highlighting; the API renders JSON only (settings: DEFAULT_RENDERER_CLASSES). About 1 MiB a worker.
    sys.modules.setdefault("pygments", None)
    if "postgresql" not in database_from_url("DATABASE_URL", env_str("DATABASE_URL") or "sqlite:///-")["ENGINE"]:
        # Nothing needs psycopg on SQLite, yet DRF's compat module imports django.contrib.postgres, and
        # psycopg with it, whenever it is installed: 10-11 MiB of every worker (bench/README.md, "Memory").
        # Marked absent in the master, it stays out of the workers forked from it.
        sys.modules.setdefault("psycopg", None)


def child_exit(server, worker) -> None:
    """A worker ended (restart, crash): its live gauges stop counting; its counters stay in the sum."""
    multiproc.worker_exited(worker.pid)


def worker_exit(server, worker) -> None:
    """In the worker, as it stops cleanly: the request bookkeeping it still holds is written first (a worker
    that never served a request, or failed to boot, never loaded the writer and holds nothing)."""
    record_writer = sys.modules.get("metering.record_writer")
    if record_writer is not None:
        record_writer.close()


def post_worker_init(worker) -> None:
    """Per worker, after the app is loaded (and, for gevent, after monkey-patching)."""
    if worker_kind == "gevent":
        from gempool_site.gevent_tuning import native_zero_timeout_polls

        native_zero_timeout_polls()
    from gempool_site.gc_freeze import freeze_startup_objects

    freeze_startup_objects()  # last: what the steps above loaded stays for the worker's life too
