"""Latency buckets and the percentiles estimated from their counts."""
from __future__ import annotations

import random

import pytest

from metering.histogram import BOUNDS_MS, BUCKETS, bucket_index, percentile, percentiles


@pytest.mark.parametrize(("ms", "bucket"), [(0, 0), (50, 0), (51, 1), (100, 1), (101, 2), (999, 6), (1000, 6),
                                            (120_000, BUCKETS - 2), (120_001, BUCKETS - 1), (10**9, BUCKETS - 1)])
def test_a_duration_falls_in_the_first_bucket_whose_upper_bound_holds_it(ms, bucket):
    assert bucket_index(ms) == bucket


def test_the_bounds_rise_from_50_ms_to_two_minutes():
    assert BOUNDS_MS[0] == 50 and BOUNDS_MS[-1] == 120_000 and list(BOUNDS_MS) == sorted(set(BOUNDS_MS))


def test_no_counts_give_no_percentile():
    assert percentiles([0] * BUCKETS) == {"p50": None, "p95": None, "p99": None}


def test_a_percentile_is_interpolated_inside_its_bucket():
    counts = [0] * BUCKETS
    counts[bucket_index(150)] = 100  # a hundred requests somewhere in (100, 200] ms
    assert percentile(counts, 0.5) == 150 and percentile(counts, 0.95) == 195 and percentile(counts, 0.99) == 199


def test_the_percentile_walks_across_buckets():
    counts = [0] * BUCKETS
    counts[bucket_index(40)] = 90   # 90 fast requests in [0, 50]
    counts[bucket_index(4000)] = 10  # 10 slow ones in (3000, 5000]
    assert percentile(counts, 0.5) == round(50 * 50 / 90)
    assert percentile(counts, 0.95) == 3000 + 2000 * 5 // 10 and percentile(counts, 0.99) == 3000 + 2000 * 9 // 10


def test_a_percentile_in_the_open_top_bucket_reads_as_its_lower_bound():
    counts = [0] * BUCKETS
    counts[-1] = 3
    assert percentile(counts, 0.99) == 120_000


def test_the_estimate_stays_within_the_bucket_of_the_true_percentile():
    rng = random.Random(7)
    values = sorted(int(rng.lognormvariate(7, 1)) for _ in range(5000))
    counts = [0] * BUCKETS
    for value in values:
        counts[bucket_index(value)] += 1
    for q in (0.5, 0.95, 0.99):
        true = values[int(q * len(values)) - 1]
        assert bucket_index(percentile(counts, q)) in (bucket_index(true), bucket_index(true) + 1), q
