"""The account pool: lease the least recently used healthy account, and learn from each outcome.

All state lives in the database, so threads, gunicorn workers and separate machines share one pool.
A lease is one short write (one statement on PostgreSQL, one IMMEDIATE transaction on SQLite; no
network inside it); outcomes are applied with F() expressions so concurrent reports never lose a count.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Least
from django.utils import timezone

from accounts.models import Account, AccountStatus, PoolSettings
from gemini_enterprise.errors import (
    AuthExpired,
    InvalidRequest,
    LoginRequired,
    PermissionDenied,
    PolicyBlocked,
    RateLimited,
    UpstreamError,
)
from gempool_site import rawsql

logger = logging.getLogger(__name__)

LEASABLE_STATUSES = (AccountStatus.ACTIVE, AccountStatus.COOLING_DOWN)


LEASE_RETRIES = 25


def lease_account(*, exclude: frozenset[int] | set[int] = frozenset(), now: datetime | None = None
                  ) -> Account | None:
    """The healthy account used longest ago, stamped as used now; None when no account can serve."""
    for _ in range(LEASE_RETRIES):
        account = _lease_once(exclude, now or timezone.now(), wait=False)
        if account is not _ALL_LOCKED:
            return account
        # More leasers than accounts on Postgres: each lease holds its row for about a millisecond,
        # so step back briefly and pick again from the least recently used (fair), rather than
        # queueing behind one row (unfair) or reporting an empty pool (wrong).
        time.sleep(random.uniform(0.001, 0.004))
    account = _lease_once(exclude, now or timezone.now(), wait=True)
    return None if account is _ALL_LOCKED else account


_ALL_LOCKED = Account()  # sentinel: candidates exist, but other transactions hold them all


def _lease_once(exclude: frozenset[int] | set[int], now: datetime, *, wait: bool) -> Account | None:
    connection = connections[Account.objects.db]
    if connection.vendor == "postgresql":
        row = _pick_and_stamp(exclude, now, wait=wait)
    else:
        with transaction.atomic():  # IMMEDIATE on SQLite: the write lock is held from the SELECT on
            row = _pick_then_stamp(exclude, now, wait=wait)
    if row is None:
        if not wait and connection.features.has_select_for_update_skip_locked:
            if ACCOUNT_ROWS.exists(*_eligible_sql(exclude, now)):
                return _ALL_LOCKED
        return None
    account = ACCOUNT_ROWS.build(row, connection)  # the row as it was picked
    if account.status == AccountStatus.COOLING_DOWN:
        logger.info("account recovered from cooldown", extra={"account_id": account.pk})
    account.status, account.cooldown_until = AccountStatus.ACTIVE, None
    account.last_used_at = account.ready_at = now
    account.request_count += 1
    return account


def _pick_then_stamp(exclude: frozenset[int] | set[int], now: datetime, *, wait: bool) -> tuple | None:
    """SELECT, then UPDATE the row found; the caller holds the transaction."""
    sql, params = lease_select(exclude=exclude, now=now, wait=wait)
    with connections[Account.objects.db].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is not None:
            cursor.execute(_STAMP_BY_ID, [*_stamp_params(now), row[_ID_INDEX]])
    return row


def _pick_and_stamp(exclude: frozenset[int] | set[int], now: datetime, *, wait: bool) -> tuple | None:
    """PostgreSQL: pick, lock and stamp in one statement, which returns the row as it was picked.

    Against a server every statement is a round trip (0.3-0.5 ms on a busy box): BEGIN, SELECT, UPDATE
    and COMMIT made the lease four of them, on the path of every completion.
    """
    pick, params = lease_select(exclude=exclude, now=now, wait=wait)
    with connections[Account.objects.db].cursor() as cursor:
        cursor.execute(f"WITH picked AS ({pick}) {_STAMP_PICKED}", [*params, *_stamp_params(now)])
        return cursor.fetchone()


def _stamp_params(now: datetime) -> list:
    stamp = rawsql.db_datetime(now)
    return [stamp, stamp, AccountStatus.ACTIVE.value]


ACCOUNT_ROWS = rawsql.ModelRows(Account)  # the lease runs on every completion: plain SQL (see rawsql)
_ID_INDEX = ACCOUNT_ROWS.attnames.index("id")
# Leasing ends any cooldown that has run out: the account is plainly active again.
_STAMP = ("last_used_at = %s, ready_at = %s, request_count = {table}.request_count + 1, status = %s, "
          "cooldown_until = NULL")
_STAMP_BY_ID = f"UPDATE accounts_account SET {_STAMP.format(table='accounts_account')} WHERE id = %s"
_STAMP_PICKED = (f"UPDATE accounts_account AS leased SET {_STAMP.format(table='leased')} FROM picked "
                 f"WHERE leased.id = picked.id RETURNING {ACCOUNT_ROWS.qualified_columns('picked')}")


def lease_select(*, exclude: frozenset[int] | set[int] = frozenset(), now: datetime, wait: bool = False
                 ) -> tuple[str, list]:
    """The lease's SELECT (SQL, params): the eligible account with the smallest ready_at, row-locked if possible.

    The WHERE repeats the partial index's own condition (migration 0004) with the same literals, which
    SQLite needs to use it; walking that index, the first entry is due unless no account is, so the cost
    does not grow with the pool. SKIP LOCKED lets concurrent leases on PostgreSQL pass each other; SQLite
    has no row locks (IMMEDIATE transactions serialise writers) and sorts NULLs first anyway.
    """
    connection = connections[Account.objects.db]
    where, params = _eligible_sql(exclude, now)
    if connection.vendor == "postgresql":
        tail = "ORDER BY ready_at ASC NULLS FIRST, id ASC LIMIT 1"
    else:
        tail = "ORDER BY ready_at ASC, id ASC LIMIT 1"
    if connection.features.has_select_for_update:
        tail += " FOR UPDATE" if wait or not connection.features.has_select_for_update_skip_locked \
            else " FOR UPDATE SKIP LOCKED"
    return ACCOUNT_ROWS.select(where, tail), params


# The partial index's condition, verbatim (statuses are fixed choices, safe to inline).
_LEASABLE_SQL = "enabled AND status IN ({})".format(", ".join(f"'{s.value}'" for s in LEASABLE_STATUSES))


def _eligible_sql(exclude: frozenset[int] | set[int], now: datetime) -> tuple[str, list]:
    """Enabled, active or cooling down, with no cooldown left; minus `exclude`."""
    where = f"{_LEASABLE_SQL} AND (cooldown_until IS NULL OR cooldown_until <= %s)"
    params: list = [rawsql.db_datetime(now)]
    if exclude:
        ids = sorted(int(pk) for pk in exclude)
        where += f" AND id NOT IN ({', '.join(['%s'] * len(ids))})"
        params.extend(ids)
    return where, params


def report_success(*, account: Account) -> None:
    """The account answered: forget its failure streaks."""
    rawsql.execute("UPDATE accounts_account SET success_count = success_count + 1, consecutive_failures = 0, "
                   "cooldown_streak = 0 WHERE id = %s", [account.pk])


def cooldown_seconds(*, streak: int, pool: PoolSettings, retry_after: float | None) -> float:
    """How long a rate-limited account rests: the upstream's hint, else base * 2^streak up to the cap."""
    if retry_after and retry_after > 0:
        return min(float(retry_after), float(pool.cooldown_max_seconds) * 4)
    return float(min(pool.cooldown_base_seconds * (2 ** min(streak, 20)), pool.cooldown_max_seconds))


def report_failure(*, account: Account, error: UpstreamError, pool: PoolSettings,
                   now: datetime | None = None) -> str:
    """Apply a failure to the account; returns what was done ('cooldown', 'needs_login', 'rest', 'none')."""
    if isinstance(error, InvalidRequest | PolicyBlocked) or not error.account_fault:
        return "none"  # the request's fault: another account would fail the same way
    now = now or timezone.now()
    base = {"last_error_kind": error.kind, "last_error_reason": error.message[:500], "last_error_at": now,
            "failure_count": F("failure_count") + 1, "consecutive_failures": F("consecutive_failures") + 1}
    rows = Account.objects.filter(pk=account.pk)
    if isinstance(error, RateLimited):
        fresh = rows.values_list("cooldown_streak", flat=True).first() or 0
        seconds = cooldown_seconds(streak=fresh, pool=pool, retry_after=error.retry_after)
        until = now + timedelta(seconds=seconds)
        rows.filter(status__in=LEASABLE_STATUSES).update(
            status=AccountStatus.COOLING_DOWN, cooldown_until=until, ready_at=until,
            cooldown_streak=Least(F("cooldown_streak") + 1, 30))
        rows.update(**base)
        _log_failure(account, error, "cooldown", seconds)
        return "cooldown"
    if isinstance(error, LoginRequired | PermissionDenied | AuthExpired):
        rows.exclude(status=AccountStatus.DISABLED).update(status=AccountStatus.NEEDS_LOGIN, cooldown_until=None,
                                                           ready_at=F("last_used_at"))
        rows.update(**base)
        _log_failure(account, error, "needs_login", 0)
        return "needs_login"
    seconds = float(pool.unavailable_rest_seconds)
    if seconds > 0:
        until = now + timedelta(seconds=seconds)
        rows.filter(status__in=LEASABLE_STATUSES).update(
            status=AccountStatus.COOLING_DOWN, cooldown_until=until, ready_at=until)
    rows.update(**base)
    _log_failure(account, error, "rest", seconds)
    return "rest"


def _log_failure(account: Account, error: UpstreamError, action: str, seconds: float) -> None:
    logger.warning("account failure", extra={"account_id": account.pk, "error_kind": error.kind,
                                             "action": action, "rest_seconds": round(seconds, 1)})


def effective_status(account: Account) -> str:
    """The status as the pool sees it: a cooldown that has run out counts as active (it is cleared lazily)."""
    if not account.enabled or account.status == AccountStatus.DISABLED:
        return AccountStatus.DISABLED.value
    if account.status == AccountStatus.NEEDS_LOGIN:
        return AccountStatus.NEEDS_LOGIN.value
    return AccountStatus.COOLING_DOWN.value if account.cooldown_remaining() > 0 else AccountStatus.ACTIVE.value


@dataclass(frozen=True)
class PoolState:
    """Why nothing can be leased: how many accounts are resting and when the first comes back."""

    enabled: int
    cooling: int
    soonest_recovery: datetime | None


def pool_state(*, now: datetime | None = None) -> PoolState:
    """A summary used to choose between 429 (wait) and 503 (nothing will come back by itself)."""
    now = now or timezone.now()
    enabled = Account.objects.filter(enabled=True)
    cooling = enabled.filter(status__in=LEASABLE_STATUSES, cooldown_until__gt=now)
    soonest = cooling.order_by("cooldown_until").values_list("cooldown_until", flat=True).first()
    return PoolState(enabled=enabled.count(), cooling=cooling.count(), soonest_recovery=soonest)


def pool_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Accounts per effective status (a passed cooldown counts as active), in one aggregate query."""
    now = now or timezone.now()
    agg = Account.objects.aggregate(
        total=Count("id"),
        disabled=Count("id", filter=Q(enabled=False) | Q(status=AccountStatus.DISABLED)),
        needs_login=Count("id", filter=Q(enabled=True, status=AccountStatus.NEEDS_LOGIN)),
        cooling_down=Count("id", filter=Q(enabled=True, status__in=LEASABLE_STATUSES, cooldown_until__gt=now)),
    )
    active = agg["total"] - agg["disabled"] - agg["needs_login"] - agg["cooling_down"]
    return {"active": active, "cooling_down": agg["cooling_down"], "needs_login": agg["needs_login"],
            "disabled": agg["disabled"], "total": agg["total"], "available": active}
