"""How many CPUs this process may use: its CPU affinity, capped by a cgroup v2 CPU quota (containers).

The gateway runs one gevent worker per such CPU by default (GEMPOOL_WORKERS): a worker is one event loop on
one core, and os.cpu_count() would count cores a container or `taskset` does not let us use.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """At least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_quota(cpu_max)
    if quota is not None:
        count = min(count, quota)
    return max(1, count)


def _cgroup_quota(cpu_max: Path) -> int | None:
    """CPUs allowed by `cpu.max` ("max 100000" = no limit, "150000 100000" = 1.5 -> 2), or None."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None
