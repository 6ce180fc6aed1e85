"""Where the worker processes of one gateway keep their Prometheus samples (prometheus-client's multi-process mode).

No Django import here: gunicorn's config file uses it in the master before any worker loads the app.
Each gateway (one gunicorn master) gets its own directory under the data dir, named for its host and bind
address, so several gateways on one host or sharing a data dir never add up each other's files; it is
emptied when the gateway starts, as prometheus-client requires, and a worker that exits is marked dead so
its live gauges stop counting.
"""
from __future__ import annotations

import os
import re
import socket
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def directory_for(*, data_dir: str, bind: str) -> Path:
    """This gateway's samples directory: <data dir>/prometheus/<host>_<bind>."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{socket.gethostname()}_{bind}")
    return Path(data_dir).resolve() / "prometheus" / name


def chosen_directory(*, data_dir: str, bind: str) -> Path:
    """The operator's PROMETHEUS_MULTIPROC_DIR, else this gateway's directory under the data dir.

    The workers must see it in their environment before they import prometheus_client, which picks its
    storage at import time: gunicorn's config passes it on as `raw_env`.
    """
    return Path(os.environ.get(ENV) or directory_for(data_dir=data_dir, bind=bind))


def empty(directory: Path) -> None:
    """Create the directory, or remove the sample files a previous run left in it."""
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob("*.db"):
        leftover.unlink(missing_ok=True)


def worker_exited(pid: int) -> None:
    """gunicorn child_exit: the worker's live gauges stop counting (its counters and histograms stay)."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
