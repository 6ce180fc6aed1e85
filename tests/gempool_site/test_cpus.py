"""available_cpus: the CPUs this process may use (affinity, capped by a cgroup v2 quota)."""
from __future__ import annotations

import os

from gempool_site.cpus import available_cpus


def test_the_cpu_count_is_that_of_this_process_affinity(tmp_path):
    assert available_cpus(tmp_path / "no-cgroup") == len(os.sched_getaffinity(0))


def test_a_cgroup_quota_caps_the_count_rounding_up(tmp_path):
    cpu_max = tmp_path / "cpu.max"
    affinity = len(os.sched_getaffinity(0))
    cpu_max.write_text("50000 100000\n")  # half a CPU: still one worker
    assert available_cpus(cpu_max) == 1
    cpu_max.write_text(f"{affinity * 100000 + 50000} 100000\n")  # more than we have: affinity rules
    assert available_cpus(cpu_max) == affinity
    cpu_max.write_text("max 100000\n")
    assert available_cpus(cpu_max) == affinity
    cpu_max.write_text("garbage\n")
    assert available_cpus(cpu_max) == affinity
