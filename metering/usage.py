"""Usage reports from the daily rollup (metering.models.UsageDay): totals, rows grouped by day/key/model,
and per-day series per key and per model for the console's charts."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Sum

from accounts.models import ApiKey
from metering.models import UsageDay

GROUPS = ("day", "key", "model")
COUNTS = ("requests", "errors", "prompt_tokens", "completion_tokens", "attachments")
MAX_DAYS = 366


@dataclass(frozen=True)
class UsageQuery:
    start: date
    end: date  # inclusive
    key_id: int | None = None  # 0: requests made without a key
    model: str | None = None
    group_by: tuple[str, ...] = ("day",)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def usage_report(*, query: UsageQuery) -> dict:
    """Everything the usage page and /api/usage show for one range and filter."""
    rows = _filtered(query)
    names = _key_names(rows)
    return {
        "from": query.start, "to": query.end, "group_by": list(query.group_by),
        "totals": _with_average(rows.aggregate(**_sums())),
        "rows": usage_rows(query=query, names=names),
        "days": query.days,
        "by_key": _series(query, rows, "api_key_id", lambda k: {"id": k, "name": names.get(k, _key_label(k))}),
        "by_model": _series(query, rows, "model", lambda m: {"id": m, "name": m}),
    }


def usage_rows(*, query: UsageQuery, names: dict[int, str] | None = None) -> list[dict]:
    """One row per group (day, key, model as asked), with the counts and the mean latency."""
    rows = _filtered(query)
    names = names if names is not None else _key_names(rows)
    fields = [{"day": "day", "key": "api_key_id", "model": "model"}[g] for g in query.group_by]
    grouped = rows.values(*fields).annotate(**_sums()).order_by(*fields) if fields else [rows.aggregate(**_sums())]
    out = []
    for row in grouped:
        item = {}
        if "day" in query.group_by:
            item["day"] = row["day"]
        if "key" in query.group_by:
            item["key"] = {"id": row["api_key_id"], "name": names.get(row["api_key_id"], _key_label(row["api_key_id"]))}
        if "model" in query.group_by:
            item["model"] = row["model"]
        out.append({**item, **_with_average(row)})
    return out


def _filtered(query: UsageQuery):
    rows = UsageDay.objects.filter(day__gte=query.start, day__lte=query.end)
    if query.key_id is not None:
        rows = rows.filter(api_key_id=query.key_id)
    if query.model:
        rows = rows.filter(model=query.model)
    return rows


def _sums() -> dict:
    return {**{name: Sum(name) for name in COUNTS}, "latency_ms_total": Sum("latency_ms_total")}


def _with_average(row: dict) -> dict:
    counts = {name: row.get(name) or 0 for name in COUNTS}
    total = row.get("latency_ms_total") or 0
    return {**counts, "latency_ms_avg": round(total / counts["requests"]) if counts["requests"] else None}


def _series(query: UsageQuery, rows, field: str, describe) -> list[dict]:
    """Per value of `field`, its requests, errors and tokens per day (oldest first), busiest first."""
    index = {day: i for i, day in enumerate(query.days)}
    series: dict = defaultdict(lambda: {name: [0] * len(index) for name in ("requests", "errors", "tokens")})
    for row in rows.values(field, "day").annotate(requests=Sum("requests"), errors=Sum("errors"),
                                                  prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens")):
        entry, slot = series[row[field]], index[row["day"]]
        entry["requests"][slot] += row["requests"]
        entry["errors"][slot] += row["errors"]
        entry["tokens"][slot] += row["prompt"] + row["completion"]
    ordered = sorted(series.items(), key=lambda item: (-sum(item[1]["requests"]), str(item[0])))
    return [{**describe(value), **data} for value, data in ordered]


def _key_names(rows) -> dict[int, str]:
    ids = set(rows.values_list("api_key_id", flat=True).distinct())
    return {k.pk: k.name for k in ApiKey.objects.filter(pk__in=ids)}


def _key_label(key_id: int) -> str:
    return "(no key)" if not key_id else f"(deleted key #{key_id})"
