"""The dashboard's operations view: requests, errors and latency / TTFT percentiles over a time range, per
model and per key; and the hourly rollup's retention.

Ranges up to 6 h are counted from the request log (per-minute detail; the log is kept 7 days), ranges of a
day and longer from the hourly rollup (metering.models.UsageHour, kept 35 days), so 30 days sums a few
hundred rows per key and model instead of reading every request. Both sources give the same figures: counts
per fixed latency bucket (metering.histogram), from which percentiles are estimated. Every report takes five
queries whatever the range, filter or grouping.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncMinute
from django.utils import timezone

from accounts.models import ApiKey, RequestLog
from gempool_site import rawsql
from metering import histogram
from metering.models import UsageHour

logger = logging.getLogger(__name__)

REQUEST_LOG = "request_log"
HOURLY_ROLLUP = "hourly_rollup"
GROUPS = ("none", "model", "key")
PERCENTILE_NOTE = ("Latency and time-to-first-token percentiles are estimates from fixed buckets "
                   "(interpolated inside the bucket).")
# A stream that broke after its first byte keeps HTTP 200 but records its error kind: still an error.
FAILED = Q(status_code__gte=400) | ~Q(error_kind="")


@dataclass(frozen=True)
class TimeRange:
    span: timedelta
    slot: timedelta  # divides a day, so slots line up with UTC midnight
    source: str


RANGES: dict[str, TimeRange] = {
    "1h": TimeRange(timedelta(hours=1), timedelta(minutes=1), REQUEST_LOG),
    "6h": TimeRange(timedelta(hours=6), timedelta(minutes=5), REQUEST_LOG),
    "24h": TimeRange(timedelta(hours=24), timedelta(hours=1), HOURLY_ROLLUP),
    "7d": TimeRange(timedelta(days=7), timedelta(hours=3), HOURLY_ROLLUP),
    "30d": TimeRange(timedelta(days=30), timedelta(hours=12), HOURLY_ROLLUP),
}


@dataclass(frozen=True)
class SeriesQuery:
    range: str  # a RANGES key
    model: str | None = None
    key_id: int | None = None  # 0: requests made without a key
    group: str = "none"  # GROUPS


@dataclass
class Figures:
    """Requests, errors and latency / TTFT bucket counts, summed over rows; percentiles from the buckets."""

    requests: int = 0
    errors: int = 0
    latency: list[int] = field(default_factory=lambda: [0] * histogram.BUCKETS)
    ttft: list[int] = field(default_factory=lambda: [0] * histogram.BUCKETS)

    def add(self, row: dict) -> None:
        self.requests += row["requests"] or 0
        self.errors += row["errors"] or 0
        for i, name in enumerate(histogram.LATENCY_COLUMNS):
            self.latency[i] += row[name] or 0
        for i, name in enumerate(histogram.TTFT_COLUMNS):
            self.ttft[i] += row[name] or 0

    def merge(self, other: Figures) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.latency = [a + b for a, b in zip(self.latency, other.latency, strict=True)]
        self.ttft = [a + b for a, b in zip(self.ttft, other.ttft, strict=True)]

    def as_dict(self) -> dict:
        return {"requests": self.requests, "errors": self.errors,
                "error_rate": round(self.errors / self.requests, 4) if self.requests else None,
                "latency_ms": histogram.percentiles(self.latency), "ttft_ms": histogram.percentiles(self.ttft)}


def dashboard_series(*, query: SeriesQuery, now: datetime | None = None) -> dict:
    """Everything the dashboard's range view and /api/dashboard/series show for one range and filter."""
    now = now or timezone.now()
    span = RANGES[query.range]
    slots = _slot_starts(span, now)
    source = _Source(span.source, slots[0])
    series = _series(source, query, slots)
    by_model = _grouped(source, query, "model")
    by_key = _grouped(source, query, "api_key_id")
    seen = list(source.rows().values_list("model", "api_key_id").distinct().order_by())
    seen_keys = {_key_value(key) for _, key in seen}
    names = _key_names(seen_keys | set(by_key))  # a per-key series' keys are by_key's
    totals = Figures()
    for figures in by_model.values():
        totals.merge(figures)
    if query.group == "key":
        for entry in series:
            entry["name"] = names[entry["id"]]
    return {
        "range": query.range, "from": slots[0], "to": now, "slot_seconds": int(span.slot.total_seconds()),
        "source": span.source, "group": query.group, "percentiles": PERCENTILE_NOTE,
        "bucket_bounds_ms": list(histogram.BOUNDS_MS), "slots": slots, "series": series,
        "totals": totals.as_dict(),
        "by_model": [{"model": model, **f.as_dict()} for model, f in _busiest(by_model)],
        "by_key": [{"key": {"id": key, "name": names[key]}, **f.as_dict()} for key, f in _busiest(by_key)],
        "models": sorted({model for model, _ in seen}),
        "keys": sorted(({"id": key, "name": names[key]} for key in seen_keys),
                       key=lambda k: (k["name"].lower(), k["id"])),
    }


def _slot_starts(span: TimeRange, now: datetime) -> list[datetime]:
    """The range's slots, oldest first, the last one holding `now`; aligned to whole slots since the epoch."""
    step = int(span.slot.total_seconds())
    last = datetime.fromtimestamp(int(now.timestamp()) // step * step, tz=UTC)
    count = int(span.span / span.slot)
    return [last - span.slot * (count - 1 - i) for i in range(count)]


class _Source:
    """The rows one range reads: request-log rows counted into buckets, or hourly-rollup rows summed."""

    def __init__(self, kind: str, start: datetime) -> None:
        self.kind = kind
        self.start = start

    def rows(self) -> QuerySet:
        if self.kind == REQUEST_LOG:
            return RequestLog.objects.filter(created_at__gte=self.start)
        return UsageHour.objects.filter(hour__gte=self.start)

    def filtered(self, query: SeriesQuery) -> QuerySet:
        rows = self.rows()
        if query.model:
            rows = rows.filter(model=query.model)
        if query.key_id is not None:
            if self.kind == REQUEST_LOG:
                rows = rows.filter(api_key_id=query.key_id) if query.key_id else rows.filter(api_key__isnull=True)
            else:
                rows = rows.filter(api_key_id=query.key_id)
        return rows

    def time_field(self, rows: QuerySet) -> tuple[QuerySet, str]:
        """The rows with the field that places each in a slot (the minute of a log row, a rollup row's hour)."""
        if self.kind == REQUEST_LOG:
            return rows.annotate(at=TruncMinute("created_at", tzinfo=UTC)), "at"
        return rows, "hour"

    def figures(self) -> dict:
        """The aggregates every grouping sums: requests, errors and one count per latency / TTFT bucket."""
        if self.kind == HOURLY_ROLLUP:
            names = ("requests", "errors", *histogram.LATENCY_COLUMNS, *histogram.TTFT_COLUMNS)
            return {name: Sum(name) for name in names}
        out = {"requests": Count("id"), "errors": Count("id", filter=FAILED)}
        for index, name in enumerate(histogram.LATENCY_COLUMNS):
            out[name] = Count("id", filter=_in_bucket("latency_ms", index))
        for index, name in enumerate(histogram.TTFT_COLUMNS):
            out[name] = Count("id", filter=_in_bucket("ttft_ms", index))
        return out


def _in_bucket(column: str, index: int) -> Q:
    lower, upper = histogram.bucket_range(index)
    inside = Q(**{f"{column}__lte": upper}) if upper is not None else Q(**{f"{column}__isnull": False})
    return inside & Q(**{f"{column}__gt": lower}) if index else inside


def _series(source: _Source, query: SeriesQuery, slots: list[datetime]) -> list[dict]:
    """One entry per group (or one for all requests), with its figures per slot, busiest first."""
    group_field = {"none": None, "model": "model", "key": "api_key_id"}[query.group]
    rows, time_name = source.time_field(source.filtered(query))
    fields = [time_name] + ([group_field] if group_field else [])
    step, start = slots[1] - slots[0], slots[0]
    per_group: dict = {}
    for row in rows.values(*fields).annotate(**source.figures()).order_by():
        slot = int((_aware(row[time_name]) - start) / step)
        if 0 <= slot < len(slots):
            group = _group_value(row, group_field) if group_field else "all"
            per_group.setdefault(group, [Figures() for _ in slots])[slot].add(row)
    if not per_group and query.group == "none":
        per_group["all"] = [Figures() for _ in slots]
    ordered = sorted(per_group.items(), key=lambda item: (-sum(f.requests for f in item[1]), str(item[0])))
    return [_series_entry(group, figures, query.group) for group, figures in ordered]


def _series_entry(group, figures: list[Figures], grouping: str) -> dict:
    entry = {"id": group, "name": "All requests" if grouping == "none" else group,
             "requests": [f.requests for f in figures], "errors": [f.errors for f in figures]}
    for kind, attr in (("latency_ms", "latency"), ("ttft_ms", "ttft")):
        slots = [histogram.percentiles(getattr(f, attr)) for f in figures]
        entry[kind] = {name: [s[name] for s in slots] for name, _ in histogram.PERCENTILES}
    return entry


def _grouped(source: _Source, query: SeriesQuery, group_field: str) -> dict:
    """Figures over the whole range per model or per key."""
    out: dict = {}
    for row in source.filtered(query).values(group_field).annotate(**source.figures()).order_by():
        out.setdefault(_group_value(row, group_field), Figures()).add(row)
    return out


def _group_value(row: dict, group_field: str):
    return _key_value(row[group_field]) if group_field == "api_key_id" else row[group_field]


def _busiest(groups: dict) -> Iterable[tuple]:
    return sorted(groups.items(), key=lambda item: (-item[1].requests, str(item[0])))


def _key_value(key_id: int | None) -> int:
    return key_id or 0  # the request log's NULL key and the rollup's 0 both mean "no key"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _key_names(ids: set[int]) -> dict[int, str]:
    names = dict(ApiKey.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "name"))
    return {i: names.get(i) or ("(no key)" if not i else f"(deleted key #{i})") for i in ids}


# ---- retention ------------------------------------------------------------------------------


def usage_hour_prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete hourly-rollup rows older than GEMPOOL_USAGE_HOUR_RETENTION_DAYS; returns how many."""
    days = days if days is not None else settings.GEMPOOL_USAGE_HOUR_RETENTION_DAYS
    cutoff = rawsql.db_datetime((now or timezone.now()) - timedelta(days=days))
    deleted = rawsql.execute(f"DELETE FROM {UsageHour._meta.db_table} WHERE hour < %s", [cutoff])
    if deleted:
        logger.info("pruned the hourly usage rollup", extra={"deleted": deleted, "retention_days": days})
    return deleted
