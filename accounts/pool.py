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
from datetime import datetime

from django.db import connections
from django.db.models import Count
from django.utils import timezone

from accounts import lifecycle
from accounts.models import Account, AccountStatus, PoolSettings
from gemini_enterprise.errors import RateLimited, UpstreamError
from gempool_site import rawsql
from gempool_site.quota_day import quota_day

logger = logging.getLogger(__name__)

LEASE_RETRIES = 25


TEXT_ONLY = ("text",)


def lease_account(*, exclude: frozenset[int] | set[int] = frozenset(), now: datetime | None = None,
                  kinds: tuple[str, ...] = TEXT_ONLY) -> Account | None:
    """The healthy account used longest ago with quota left for every one of `kinds` (see accounts.quotas),
    stamped as used now; None when no account can serve."""
    for _ in range(LEASE_RETRIES):
        account = _lease_once(exclude, now or timezone.now(), kinds, wait=False)
        if account is not _ALL_LOCKED:
            return account
        # More leasers than accounts on Postgres: each lease holds its row for about a millisecond,
        # so step back briefly and pick again from the least recently used (fair), rather than
        # queueing behind one row (unfair) or reporting an empty pool (wrong).
        time.sleep(random.uniform(0.001, 0.004))
    account = _lease_once(exclude, now or timezone.now(), kinds, wait=True)
    return None if account is _ALL_LOCKED else account


_ALL_LOCKED = Account()  # sentinel: candidates exist, but other transactions hold them all


def _lease_once(exclude: frozenset[int] | set[int], now: datetime, kinds: tuple[str, ...], *, wait: bool
                ) -> Account | None:
    connection = connections[Account.objects.db]
    at = connection.ops.adapt_datetimefield_value(now)  # `now` as a parameter, for the pick and the stamp
    if connection.vendor == "postgresql":
        row = _pick_and_stamp(connection, exclude, at, kinds, wait=wait)
    else:  # SQLite: the write lock is held from the SELECT on (BEGIN IMMEDIATE)
        with connection.write_transaction() as cursor:
            row = _pick_then_stamp(cursor, connection, exclude, at, kinds, wait=wait)
    if row is None:
        if not wait and connection.features.has_select_for_update_skip_locked:
            if ACCOUNT_ROWS.exists(*_eligible_sql(exclude, at, kinds)):
                return _ALL_LOCKED
        return None
    account = ACCOUNT_ROWS.build(row, connection)  # the row as it was picked
    if account.status == AccountStatus.COOLING_DOWN:
        logger.info("account recovered from cooldown", extra={"account_id": account.pk})
    return _STAMP.reflect(account, now)


def _pick_then_stamp(cursor, connection, exclude: frozenset[int] | set[int], at, kinds: tuple[str, ...], *,
                     wait: bool) -> tuple | None:
    """SELECT, then UPDATE the row found, on `cursor`, whose transaction the caller holds."""
    sql, params = _select(connection, exclude, at, kinds, wait)
    cursor.execute(sql, params)
    row = cursor.fetchone()
    if row is not None:
        cursor.execute(_STAMP_BY_ID, [*_STAMP.params(at), row[_ID_INDEX]])
    return row


def _pick_and_stamp(connection, exclude: frozenset[int] | set[int], at, kinds: tuple[str, ...], *, wait: bool
                    ) -> tuple | None:
    """PostgreSQL: pick, lock and stamp in one statement, which returns the row as it was picked.

    Against a server every statement is a round trip (0.3-0.5 ms on a busy box): BEGIN, SELECT, UPDATE
    and COMMIT made the lease four of them, on the path of every completion.
    """
    if wait:  # queue behind a holder: whatever row it frees is ours, so a turn is never lost to a recheck
        pick, params = _select(connection, exclude, at, kinds, wait)
        sql = f"WITH picked AS ({pick}) {_STAMP_PICKED}"
    else:
        pick, params = _fresh_pick(exclude, at, kinds)
        sql = f"WITH {pick} {_STAMP_PICKED}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *_STAMP.params(at)])
        return cursor.fetchone()


FRESH_CANDIDATES = 8  # the due accounts a PostgreSQL lease considers, in turn order


def _fresh_pick(exclude: frozenset[int] | set[int], at, kinds: tuple[str, ...]) -> tuple[str, list]:
    """PostgreSQL: `seen` and `picked` CTEs that take the first due account, in turn order, that no other lease
    has stamped since this statement's snapshot.

    A row another lease stamped after the snapshot still sorts by its old ready_at, and READ COMMITTED
    re-checks the row it locks without sorting again: a plain ORDER BY ... FOR UPDATE SKIP LOCKED hands such
    a row out twice in a row. `seen` keeps the snapshot's ready_at of the first candidates; the re-check of
    `picked` compares the locked row's ready_at with it, so a row stamped meanwhile is passed over.
    """
    where, params = _eligible_sql(exclude, at, kinds)
    seen = (f"seen AS MATERIALIZED (SELECT id AS seen_id, ready_at AS seen_ready_at FROM {ACCOUNT_ROWS.table} "
            f"WHERE {where} ORDER BY ready_at ASC NULLS FIRST, id ASC LIMIT {FRESH_CANDIDATES})")
    picked = (f"picked AS (SELECT {ACCOUNT_ROWS.columns} FROM {ACCOUNT_ROWS.table} JOIN seen ON id = seen_id "
              f"WHERE {where} AND ready_at IS NOT DISTINCT FROM seen_ready_at "
              f"ORDER BY seen_ready_at ASC NULLS FIRST, seen_id ASC LIMIT 1 FOR UPDATE OF {ACCOUNT_ROWS.table} "
              "SKIP LOCKED)")
    return f"{seen}, {picked}", [*params, *params]


ACCOUNT_ROWS = rawsql.ModelRows(Account)  # the lease runs on every completion: plain SQL (see rawsql)
_ID_INDEX = ACCOUNT_ROWS.attnames.index("id")
# The stamp is the life cycle's `leased` event, compiled once: its time varies per lease, its SQL does not.
_STAMP = lifecycle.LEASE_STAMP
_STAMP_BY_ID = lifecycle.update_sql(_STAMP.changes, "WHERE id = %s")
_STAMP_PICKED = lifecycle.update_sql(_STAMP.changes, "FROM picked WHERE leased.id = picked.id RETURNING "
                                     + ACCOUNT_ROWS.qualified_columns("picked"), alias="leased")


def lease_select(*, exclude: frozenset[int] | set[int] = frozenset(), now: datetime, wait: bool = False,
                 kinds: tuple[str, ...] = TEXT_ONLY) -> tuple[str, list]:
    """The lease's SELECT (SQL, params): the eligible account with the smallest ready_at, row-locked if possible.

    The WHERE repeats the partial index's own condition (migration 0004) with the same literals, which
    SQLite needs to use it; walking that index, the first entry is due unless no account is, so the cost
    does not grow with the pool. SKIP LOCKED lets concurrent leases on PostgreSQL pass each other; SQLite
    has no row locks (IMMEDIATE transactions serialise writers) and sorts NULLs first anyway. (The
    PostgreSQL lease itself picks with _fresh_pick, which also passes over rows stamped meanwhile.)
    """
    connection = connections[Account.objects.db]
    return _select(connection, exclude, connection.ops.adapt_datetimefield_value(now), kinds, wait)


def _select(connection, exclude: frozenset[int] | set[int], at, kinds: tuple[str, ...], wait: bool
            ) -> tuple[str, list]:
    where, params = _eligible_sql(exclude, at, kinds)
    if connection.vendor == "postgresql":
        tail = "ORDER BY ready_at ASC NULLS FIRST, id ASC LIMIT 1"
    else:
        tail = "ORDER BY ready_at ASC, id ASC LIMIT 1"
    if connection.features.has_select_for_update:
        tail += " FOR UPDATE" if wait or not connection.features.has_select_for_update_skip_locked \
            else " FOR UPDATE SKIP LOCKED"
    return ACCOUNT_ROWS.select(where, tail), params


def _eligible_sql(exclude: frozenset[int] | set[int], at, kinds: tuple[str, ...] = TEXT_ONLY) -> tuple[str, list]:
    """Enabled, active or cooling down, with no cooldown left at `at` (the life cycle's rule), with quota left
    for each of `kinds` at `at` (filters on the walk of the same index: no second query); minus `exclude`."""
    quota_left = lifecycle.quota_left_sql(kinds)
    where = lifecycle.LEASABLE_NOW_SQL + quota_left
    params: list = [at] * (1 + quota_left.count("%s"))  # each condition compares with the lease's time
    if exclude:
        ids = sorted(int(pk) for pk in exclude)
        where += f" AND id NOT IN ({', '.join(['%s'] * len(ids))})"
        params.extend(ids)
    return where, params


def report_success(*, account: Account) -> None:
    """The account answered: forget its failure streaks."""
    lifecycle.apply(account, lifecycle.succeeded())


# What report_failure() did, by life-cycle event.
_ACTIONS = {"rate_limited": "cooldown", "login_failed": "needs_login", "transient_failure": "rest",
            "quota_exhausted": "quota_rest"}


def report_failure(*, account: Account, error: UpstreamError, pool: PoolSettings,
                   now: datetime | None = None) -> str:
    """Apply a failure to the account; returns what was done ('cooldown', 'needs_login', 'rest', 'quota_rest'
    (one kind rests until the quota reset), 'none')."""
    now = now or timezone.now()
    streak = 0
    quota_kind = getattr(error, "quota_kind", None)
    if isinstance(error, RateLimited) and not quota_kind:
        # The backoff grows with the streak as stored now: other requests may have moved it since the lease.
        streak = Account.objects.filter(pk=account.pk).values_list("cooldown_streak", flat=True).first() or 0
    changes = lifecycle.failed(error=error, streak=streak, pool=pool, now=now,
                               quota_resets_at=quota_day(now).ends_at if quota_kind else None)
    if changes is None:
        return "none"  # the request's fault: another account would fail the same way
    lifecycle.apply(account, changes)
    action = _ACTIONS[changes.event]
    until = changes.guarded.get("cooldown_until") or changes.values.get(f"{quota_kind}_exhausted_until")
    seconds = (until - now).total_seconds() if until else 0.0
    logger.warning("account failure", extra={"account_id": account.pk, "error_kind": error.kind,
                                             "action": action, "rest_seconds": round(seconds, 1)})
    return action


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
    cooling = Account.objects.filter(lifecycle.resting(now))
    soonest = cooling.order_by("cooldown_until").values_list("cooldown_until", flat=True).first()
    return PoolState(enabled=enabled.count(), cooling=cooling.count(), soonest_recovery=soonest)


def pool_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Accounts per effective status (see lifecycle.effective_status), in one aggregate query."""
    filters = lifecycle.status_filters(now or timezone.now())
    agg = Account.objects.aggregate(total=Count("id"), **{status: Count("id", filter=q)
                                                          for status, q in filters.items()})
    active = agg["total"] - sum(agg[status] for status in filters)
    return {"active": active, **{status: agg[status] for status in filters}, "total": agg["total"],
            "available": active}
