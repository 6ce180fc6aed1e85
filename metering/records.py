"""A finished request's bookkeeping: its request-log row, one row per upstream attempt, the day's and the
hour's usage.

`requests_record` writes them after the clients have their answers, inside the caller's transaction: per
request an INSERT returning the log row's id; per batch one multi-row INSERT for the attempts, and one
upsert per (day, key, model) of the daily usage rollup and per (hour, key, model) of the hourly one with
its latency buckets. metering.record_writer batches them; `request_observe` adds the same figures to the
Prometheus metrics as each request ends, so /metrics and the database count the same things.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache

from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts.dashboard import request_log_add
from gempool_site import rawsql
from metering import histogram, metrics
from metering.models import AttemptOutcome

PROMPT_EXCERPT_CHARS = 500  # how much of the last user message the request log keeps, when prompt logging is on


@dataclass(frozen=True)
class AttemptRecord:
    """One upstream attempt: which account, when it started, how long it took and how it ended."""

    account_id: int
    started_at: datetime
    latency_ms: int
    outcome: str  # an AttemptOutcome value
    error_kind: str = ""


@dataclass(frozen=True)
class RequestRecord:
    """What one /v1 request did, as the request log, the usage rollup and the metrics record it."""

    endpoint: str
    model: str
    stream: bool
    status_code: int
    latency_ms: int
    request_id: str
    account_id: int | None  # the account whose attempt produced the answer (None: no attempt did)
    api_key_id: int | None
    key_name: str
    error_kind: str = ""
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attachments: int = 0
    ttft_ms: int | None = None
    attempts: tuple[AttemptRecord, ...] = field(default_factory=tuple)
    prompt_excerpt: str | None = None  # None: not kept (prompt logging is off); see prompt_excerpt()

    @property
    def failed(self) -> bool:
        # A stream that broke after its first byte keeps HTTP 200 but has an error kind: still an error.
        return self.status_code >= 400 or bool(self.error_kind)


def prompt_excerpt(text: str) -> str | None:
    """What the request log may keep of a prompt: its first PROMPT_EXCERPT_CHARS characters when the operator
    turned prompt logging on (GEMPOOL_LOG_PROMPTS), else None: by default no prompt text is stored."""
    if not settings.GEMPOOL_LOG_PROMPTS:
        return None
    return text[:PROMPT_EXCERPT_CHARS]


def request_record(record: RequestRecord, *, now: datetime | None = None) -> int:
    """Write the request's rows (the caller holds the transaction); returns the request-log row's id."""
    return requests_record([(record, now or timezone.now())])[0]


def requests_record(finished: Sequence[tuple[RequestRecord, datetime]]) -> list[int]:
    """Write finished requests, each with the time it ended (the caller holds the transaction): a log row
    each, all their attempts in one INSERT, and one upsert per (day, key, model) and per (hour, key, model)
    with the sums of the requests that share it. One request takes four statements, a batch of any size
    (metering.record_writer) one per log row plus a few. Returns the log rows' ids, in order."""
    log_ids: list[int] = []
    attempts: list[tuple[int, AttemptRecord]] = []
    days: dict[tuple, list[int]] = {}
    hours: dict[tuple, Counter] = {}
    connection = connections["default"]
    for record, at in finished:
        log_id = request_log_add(
            account_id=record.account_id, api_key_id=record.api_key_id, endpoint=record.endpoint,
            model=record.model, stream=record.stream, status_code=record.status_code, latency_ms=record.latency_ms,
            attempts=len(record.attempts), error_kind=record.error_kind, request_id=record.request_id,
            tool_calls=record.tool_calls, prompt_tokens=record.prompt_tokens,
            completion_tokens=record.completion_tokens, attachments=record.attachments, ttft_ms=record.ttft_ms,
            prompt_excerpt=record.prompt_excerpt, created_at=at)
        log_ids.append(log_id)
        attempts += [(log_id, attempt) for attempt in record.attempts]
        utc = at.astimezone(UTC)
        key, model = record.api_key_id or 0, record.model[:100]
        day = days.setdefault((connection.ops.adapt_datefield_value(utc.date()), key, model), [0] * 6)
        for index, value in enumerate((1, int(record.failed), record.prompt_tokens, record.completion_tokens,
                                       record.attachments, record.latency_ms)):
            day[index] += value
        hour = hours.setdefault((rawsql.db_datetime(utc.replace(minute=0, second=0, microsecond=0)), key, model),
                                Counter())
        hour.update({"requests": 1, "errors": int(record.failed), "latency_ms_total": record.latency_ms,
                     histogram.LATENCY_COLUMNS[histogram.bucket_index(record.latency_ms)]: 1})
        if record.ttft_ms is not None:
            hour[histogram.TTFT_COLUMNS[histogram.bucket_index(record.ttft_ms)]] += 1
    if attempts:
        _attempts_add(attempts)
    for (day, key, model), sums in days.items():
        rawsql.execute(_USAGE_UPSERT, [day, key, model, *sums])
    for (hour, key, model), sums in hours.items():
        columns = tuple(sorted(sums))
        rawsql.execute(_usage_hour_upsert(columns), [hour, key, model, *(sums[name] for name in columns)])
    return log_ids


def _attempts_add(attempts: list[tuple[int, AttemptRecord]]) -> None:
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(attempts))
    params: list = []
    for log_id, attempt in attempts:
        params += [log_id, attempt.account_id, rawsql.db_datetime(attempt.started_at), attempt.latency_ms,
                   attempt.outcome, attempt.error_kind[:40]]
    rawsql.execute("INSERT INTO metering_requestattempt (request_id, account_id, started_at, latency_ms, outcome, "
                   f"error_kind) VALUES {rows}", params)


_USAGE_COUNTS = ("requests", "errors", "prompt_tokens", "completion_tokens", "attachments", "latency_ms_total")
# ON CONFLICT ... DO UPDATE is atomic on SQLite and PostgreSQL alike: concurrent requests never lose a count.
_USAGE_UPSERT = (
    f"INSERT INTO metering_usageday (day, api_key_id, model, {', '.join(_USAGE_COUNTS)}) "
    f"VALUES (%s, %s, %s, {', '.join(['%s'] * len(_USAGE_COUNTS))}) "
    "ON CONFLICT (day, api_key_id, model) DO UPDATE SET "
    + ", ".join(f"{name} = metering_usageday.{name} + excluded.{name}" for name in _USAGE_COUNTS))


@cache
def _usage_hour_upsert(columns: tuple[str, ...]) -> str:
    """The hourly upsert that adds to the named columns: the counts and only the latency and TTFT buckets the
    requests fell in (the other bucket columns keep their DB default of 0)."""
    return (f"INSERT INTO metering_usagehour (hour, api_key_id, model, {', '.join(columns)}) "
            f"VALUES (%s, %s, %s{', %s' * len(columns)}) "
            "ON CONFLICT (hour, api_key_id, model) DO UPDATE SET "
            + ", ".join(f"{name} = metering_usagehour.{name} + excluded.{name}" for name in columns))


def request_observe(record: RequestRecord) -> None:
    """Add the request and its attempts to the Prometheus metrics."""
    metrics.COMPLETIONS.labels(endpoint=record.endpoint, model=record.model, key=record.key_name,
                               status=str(record.status_code), error=record.error_kind).inc()
    metrics.COMPLETION_SECONDS.labels(endpoint=record.endpoint, model=record.model).observe(record.latency_ms / 1000)
    if record.ttft_ms is not None:
        metrics.COMPLETION_TTFT_SECONDS.labels(endpoint=record.endpoint, model=record.model).observe(
            record.ttft_ms / 1000)
    metrics.COMPLETION_TOKENS.labels(kind="prompt", model=record.model, key=record.key_name).inc(record.prompt_tokens)
    metrics.COMPLETION_TOKENS.labels(kind="completion", model=record.model, key=record.key_name).inc(
        record.completion_tokens)
    for attempt in record.attempts:
        account = str(attempt.account_id)
        metrics.UPSTREAM_ATTEMPTS.labels(account=account, outcome=attempt.outcome).inc()
        if attempt.outcome == AttemptOutcome.ERROR:
            metrics.UPSTREAM_ERRORS.labels(account=account, kind=attempt.error_kind or "unknown").inc()
        metrics.UPSTREAM_ATTEMPT_TIME.labels(account=account).inc(attempt.latency_ms / 1000)
        metrics.UPSTREAM_ATTEMPT_SECONDS.observe(attempt.latency_ms / 1000)
