"""The console dashboard's numbers, and the request log's retention."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from accounts.lifecycle import effective_status
from accounts.models import Account, AccountStatus, RequestLog
from accounts.pool import pool_counts
from accounts.serializers import proxy_status
from accounts.upstream import pool_settings_get
from gempool_site import rawsql
from metering.figures import ERROR
from metering.models import RequestAttempt

logger = logging.getLogger(__name__)

HOURS = 24
RECENT_ERRORS = 8  # distinct (status, error kind) lines on the dashboard
RECENT_ERROR_ROWS = 200  # the newest failed requests they are drawn from
# A stream that broke after its first byte keeps HTTP 200 but records its error kind: still an error.
FAILED = Q(status_code__gte=400) | ~Q(error_kind="")


def dashboard_summary(*, now: datetime | None = None) -> dict:
    """Accounts by status, requests and errors per hour over 24 h (all requests, and per account from its
    upstream attempts, see metering.figures), recent errors, proxy."""
    now = now or timezone.now()
    hours = _hour_starts(now)
    return {
        "generated_at": now,
        "accounts": pool_counts(now=now),
        "logins": login_counts(now=now),
        "hours": hours,
        "totals": _hourly_totals(hours),
        "series": _hourly_series(hours),
        "recent_errors": _recent_errors(),
        "proxy": proxy_status(pool_settings_get()),
    }


LOGIN_SOON = timedelta(hours=2)


def login_counts(*, now: datetime) -> dict[str, int]:
    """Logins expiring within 2 h (enabled accounts), and accounts that only a person can bring back:
    a refresh hit a hard stop (needs_attention), or the login is gone and no mailbox can renew it."""
    on = Account.objects.filter(enabled=True).exclude(status=AccountStatus.DISABLED)
    return on.aggregate(
        expiring_within_2h=Count("id", filter=Q(login_expires_at__lte=now + LOGIN_SOON)
                                 & ~Q(status__in=[AccountStatus.NEEDS_LOGIN, AccountStatus.NEEDS_ATTENTION])),
        need_a_person=Count("id", filter=Q(status=AccountStatus.NEEDS_ATTENTION) | (
            Q(status=AccountStatus.NEEDS_LOGIN) & (Q(login_profile__isnull=True)
                                                   | Q(login_profile__mailbox__isnull=True)))))


def _hour_starts(now: datetime) -> list[datetime]:
    current = now.replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)]


def _hourly_totals(hours: list[datetime]) -> dict:
    """Requests as clients made them (a request that failed over is one request), oldest hour first."""
    index = {hour: i for i, hour in enumerate(hours)}
    totals = {"requests": [0] * HOURS, "errors": [0] * HOURS}
    rows = (RequestLog.objects.filter(created_at__gte=hours[0]).annotate(hour=TruncHour("created_at"))
            .values("hour").annotate(requests=Count("id"), errors=Count("id", filter=FAILED)).order_by())
    for row in rows:
        slot = index.get(row["hour"])
        if slot is not None:
            totals["requests"][slot] += row["requests"]
            totals["errors"][slot] += row["errors"]
    return totals


def _hourly_series(hours: list[datetime]) -> list[dict]:
    """Per account, its upstream attempts and failed attempts per hour (plus live accounts with no traffic)."""
    index = {hour: i for i, hour in enumerate(hours)}
    rows = (RequestAttempt.objects.filter(started_at__gte=hours[0])
            .annotate(hour=TruncHour("started_at"))
            .values("account_id", "hour")
            .annotate(requests=Count("id"), errors=Count("id", filter=ERROR), latency=Sum("latency_ms"))
            .order_by())
    names = {a.pk: (a.display_name, effective_status(a)) for a in Account.objects.all()}
    series: dict[int | None, dict] = {
        pk: _empty_series(pk, name, status) for pk, (name, status) in names.items()}
    for row in rows:
        slot = index.get(row["hour"])
        if slot is None:
            continue
        pk = row["account_id"] if row["account_id"] in names else None
        entry = series.setdefault(pk, _empty_series(None, "(deleted account)", ""))
        entry["requests"][slot] += row["requests"]
        entry["errors"][slot] += row["errors"]
        entry["latency_ms_total"] += row["latency"] or 0
    for entry in series.values():
        attempts = sum(entry["requests"])
        entry["latency_ms_avg"] = round(entry.pop("latency_ms_total") / attempts) if attempts else None
    return sorted(series.values(), key=lambda s: (s["account_id"] is None, s["account_id"] or 0))


def _empty_series(pk: int | None, name: str, status: str) -> dict:
    return {"account_id": pk, "label": name, "status": status, "requests": [0] * HOURS, "errors": [0] * HOURS,
            "latency_ms_total": 0}


def _recent_errors() -> list[dict]:
    """The newest failures, one entry per (status, error kind): a burst of identical errors is one line with
    its count, the accounts and models it hit, and its newest occurrence's details."""
    rows = (RequestLog.objects.filter(FAILED).select_related("account")
            .order_by("-created_at")[:RECENT_ERROR_ROWS])
    groups: dict[tuple[int, str], dict] = {}
    for row in rows:
        group = groups.get((row.status_code, row.error_kind))
        if group is None:
            if len(groups) == RECENT_ERRORS:
                continue
            group = groups[(row.status_code, row.error_kind)] = {
                "at": row.created_at, "account_id": row.account_id,
                "account": row.account.display_name if row.account else "", "model": row.model,
                "endpoint": row.endpoint, "status_code": row.status_code, "error_kind": row.error_kind,
                "latency_ms": row.latency_ms, "count": 0, "first_at": row.created_at, "accounts": [], "models": []}
        group["count"] += 1
        group["first_at"] = row.created_at
        account = row.account.display_name if row.account else ""
        for name, seen in ((account, group["accounts"]), (row.model, group["models"])):
            if name and name not in seen:
                seen.append(name)
    return list(groups.values())


# ---- retention ------------------------------------------------------------------------------


def request_log_prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete request-log rows older than the retention (GEMPOOL_REQUEST_LOG_RETENTION_DAYS); returns how many."""
    days = days if days is not None else settings.GEMPOOL_REQUEST_LOG_RETENTION_DAYS
    cutoff = rawsql.db_datetime((now or timezone.now()) - timedelta(days=days))
    # Two plain DELETEs, attempts first: the ORM's delete() would load every old row to cascade by hand.
    with transaction.atomic():
        rawsql.execute(f"DELETE FROM {RequestAttempt._meta.db_table} WHERE request_id IN "
                       f"(SELECT id FROM {RequestLog._meta.db_table} WHERE created_at < %s)", [cutoff])
        deleted = rawsql.execute(f"DELETE FROM {RequestLog._meta.db_table} WHERE created_at < %s", [cutoff])
    if deleted:
        logger.info("pruned the request log", extra={"deleted": deleted, "retention_days": days})
    return deleted


def request_log_add(*, account_id: int | None, api_key_id: int | None, endpoint: str, model: str, stream: bool,
                    status_code: int, latency_ms: int, attempts: int, error_kind: str, request_id: str,
                    tool_calls: int = 0, prompt_tokens: int = 0, completion_tokens: int = 0, attachments: int = 0,
                    ttft_ms: int | None = None, prompt_excerpt: str | None = None,
                    created_at: datetime | None = None) -> int:
    """Append one /v1 request's outcome and return the row's id (gempool_site.housekeeping keeps the log to
    its retention).

    Plain SQL (see gempool_site.rawsql): it runs once per completion, and the ORM's create() cost
    several times the INSERT itself. RETURNING (SQLite 3.35+, PostgreSQL) hands back the id in the
    same statement, for the attempt rows that point at it.
    """
    log_id = rawsql.fetch_value(
        "INSERT INTO accounts_requestlog (created_at, account_id, api_key_id, endpoint, model, stream, "
        "status_code, latency_ms, attempts, error_kind, request_id, tool_calls, prompt_tokens, completion_tokens, "
        "attachments, ttft_ms, prompt_excerpt) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
        "%s, %s) RETURNING id",
        [rawsql.db_datetime(created_at or timezone.now()), account_id, api_key_id, endpoint, model[:100], stream,
         status_code, latency_ms, attempts, error_kind[:40], request_id[:40], tool_calls, prompt_tokens,
         completion_tokens, min(attachments, 32767), ttft_ms, prompt_excerpt])
    return log_id

