"""The /metrics body: every worker's samples (multi-process mode) or this process's, plus the DB collectors."""
from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from metering.collectors import AccountsCollector, RefreshJobsCollector
from metering.multiproc import ENV


class _ThisProcess(Collector):
    """The default registry's metrics, for a process that runs alone (runserver, tests, one worker w/o dir)."""

    def collect(self) -> Iterator:
        return REGISTRY.collect()


def metrics_text() -> bytes:
    """The Prometheus text exposition of everything the gateway reports."""
    registry = CollectorRegistry()
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(AccountsCollector())
    registry.register(RefreshJobsCollector())
    return generate_latest(registry)
