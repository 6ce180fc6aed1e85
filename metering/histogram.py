"""Fixed latency buckets, and percentiles estimated from the counts in them.

The hourly rollup (metering.models.UsageHour) keeps, per hour, key and model, how many requests fell into
each bucket, for the total latency and for the time to the first token. Percentiles over any range then
come from summed bucket counts, never from the requests themselves: an estimate, exact to within its bucket.
The bounds are part of the schema (one column per bucket): changing them needs a migration.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# Upper bounds (ms, inclusive) of the buckets, roughly log-scale from 50 ms to 2 min; one more bucket above.
BOUNDS_MS: tuple[int, ...] = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000,
                              20_000, 30_000, 45_000, 60_000, 90_000, 120_000)
BUCKETS = len(BOUNDS_MS) + 1
LATENCY_COLUMNS: tuple[str, ...] = tuple(f"latency_b{i:02d}" for i in range(BUCKETS))
TTFT_COLUMNS: tuple[str, ...] = tuple(f"ttft_b{i:02d}" for i in range(BUCKETS))
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def bucket_index(value_ms: int) -> int:
    """The bucket a duration falls in: the first whose upper bound is >= it (the last: above 2 min)."""
    return bisect_left(BOUNDS_MS, value_ms)


def bucket_range(index: int) -> tuple[int, int | None]:
    """(lower, upper) bound of a bucket in ms; the last bucket has no upper bound."""
    lower = BOUNDS_MS[index - 1] if index > 0 else 0
    return lower, BOUNDS_MS[index] if index < len(BOUNDS_MS) else None


def percentile(counts: Sequence[int], quantile: float) -> int | None:
    """The `quantile` (0-1) of the durations counted in `counts` (one count per bucket), interpolated
    linearly inside its bucket; None without any count. A value in the open top bucket reads as its lower
    bound (2 min), as Prometheus' histogram_quantile does."""
    total = sum(counts)
    if not total:
        return None
    rank = quantile * total
    below = 0
    for index, count in enumerate(counts):
        if count and below + count >= rank:
            lower, upper = bucket_range(index)
            if upper is None:
                return lower
            return round(lower + (upper - lower) * (rank - below) / count)
        below += count
    return bucket_range(len(counts) - 1)[0]  # unreachable with quantile <= 1


def percentiles(counts: Sequence[int]) -> dict[str, int | None]:
    """p50, p95 and p99 of the bucket counts."""
    return {name: percentile(counts, q) for name, q in PERCENTILES}
