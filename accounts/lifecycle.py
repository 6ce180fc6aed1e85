"""The account life cycle: its states, every event that moves an account between them, and the one writer.

States (`Account.status`, with `enabled`):

- ``active``: leased in least-recently-used order.
- ``cooling_down``: rate limited, or resting after a transient failure; leasable again once
  `cooldown_until` has passed (the lease itself then makes it active).
- ``needs_login``: its login failed; not leased. New cookies, a refreshed login or a passing test bring it
  back; enabling it again keeps it here while its last error since its last login is a login problem.
- ``needs_attention``: a login refresh hit a hard stop (`attention_reason` says which); not leased and not
  retried automatically. An operator clears it by enabling the account, replacing its cookies, or a
  passing test.
- ``disabled``: switched off (`enabled` is False).

Each event is a pure function (no database access) returning a `Changes`: the field values to write,
counters as F() expressions, and, where a rule depends on the row as it is when the write lands (a rate
limit cools down only a leasable account), fields written only while a `Guard` holds. `apply()` writes a
`Changes` with one ``UPDATE accounts_account ... WHERE id = %s``. Events whose rule reads more of the
account (`enabled`, `test_passed`, `test_failed`) take the account as the caller read it, under a row
lock (`locked()`).

Events (all keyword-only after `account`; `now` is the event's time):

- ``created(enabled, now, expires_at=None)``: initial values of a new account (`initial_values()`).
- ``enabled(account, now)`` / ``disabled(now)``: an operator switches the account on or off.
- ``cookies_replaced(now, expires_at=None)``: new cookies from an operator (add the cookie fields
  with `including()`); `logged_in_at` = now, `login_expires_at` = `expires_at` or now + the login lifetime.
- ``leased(now)``: the pool hands the account out (the lease statement's SET clause: `LEASE_STAMP`).
- ``succeeded()``: the account answered.
- ``successes_counted(count)``: answers of an account with no streak to forget, counted in a batch.
- ``rate_limited(error, streak, pool, now)``: cooldown from the upstream's hint or the pool's backoff.
- ``login_failed(error, now)``: dead cookies, refused JWT, banned seat.
- ``transient_failure(error, pool, now)``: 5xx, timeout, broken stream: a short rest.
- ``failed(error, streak, pool, now)``: one of the three above for an upstream error, or None when the
  request (not the account) was at fault.
- ``test_passed(account, now)`` / ``test_failed(account, error, now)``: an account test's verdict.
- ``cooldown_cleared(now)``: an operator ends a cooldown and forgets the backoff.
- ``quota_exhausted(kind, until, now, error=None)``: the account used up its daily quota of one kind (text,
  image, video), counted by us or named by the upstream's 429 (`error`): the lease skips it for requests of
  that kind until `until` (the next quota reset); it stays in service for the other kinds.
- ``login_refreshed(secure_c_ses, host_c_oses, csesidx, team_id, now, user_agent=None, expires_at=None)``:
  the re-login worker obtained a new login.
- ``refresh_failed(hard, reason, now)``: a re-login attempt failed; soft keeps the state (the worker backs
  off), hard puts the account in ``needs_attention`` with the reason.

Writing: ``apply(account_or_id, changes) -> bool``; for bulk operations such as a config import,
``apply_many(ids, changes) -> int`` (one change set, many accounts: batched UPDATE ... WHERE id IN) and
``apply_each(pairs) -> int`` (a change set per account, equal ones batched together) and
``write_plain_fields(accounts, fields)`` (plain fields, a value per account, one executemany);
``update_sql(changes, tail, alias="")``, the UPDATE statement apply() runs, for the lease to build on;
``LEASE_STAMP``, `leased` compiled once for the lease; ``locked(account_id)`` reads the row FOR UPDATE
(call inside ``transaction.atomic()``).
Reading: ``quota_left_sql(kinds)`` (the lease's per-kind condition),
``effective_status(account, now=None)``, ``status_filters(now)`` (effective statuses as query
filters), ``resting(now)``, ``leasable_now(now)`` / ``LEASABLE_NOW_SQL``, ``LEASABLE``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import F, Q, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Least

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

TABLE = Account._meta.db_table
LEASABLE_STATUSES = (AccountStatus.ACTIVE, AccountStatus.COOLING_DOWN)
LOGIN_ERRORS = (LoginRequired, PermissionDenied, AuthExpired)
LOGIN_ERROR_KINDS = frozenset({"login_required", "permission_denied", "auth_expired"})
REFRESH_FAILED = "refresh_failed"
STREAK_CAP = 30  # 2^30 times the base is past any cap already; the cap keeps the column small
REASON_CHARS = 500

# Every field only this module writes (apart from a new account's initial values).
OWNED_FIELDS = frozenset({
    "status", "enabled", "cooldown_until", "ready_at", "cooldown_streak", "consecutive_failures",
    "last_error_kind", "last_error_reason", "last_error_at", "last_used_at", "request_count", "success_count",
    "failure_count", "login_expires_at", "logged_in_at", "attention_reason",
    "text_exhausted_until", "image_exhausted_until", "video_exhausted_until",
})
QUOTA_KINDS = ("text", "image", "video")


@dataclass(frozen=True)
class Guard:
    """A condition on the row as the UPDATE finds it: SQL with %s placeholders (self-contained: any OR in
    parentheses, so guards join with AND), and its parameters."""

    sql: str
    params: tuple[Any, ...] = ()

    def __and__(self, other: Guard) -> Guard:
        return Guard(f"{self.sql} AND {other.sql}", self.params + other.params)


def status_in(*statuses: AccountStatus) -> Guard:
    # Statuses are fixed choices, safe to inline; inlined they match the partial index's condition.
    return Guard("status IN ({})".format(", ".join(f"'{AccountStatus(s).value}'" for s in statuses)))


# The partial index's condition (migration 0004), verbatim: SQLite uses the index only for this text.
LEASABLE = Guard("enabled AND " + status_in(*LEASABLE_STATUSES).sql)


# `leasable_now()`'s SQL, for the lease's SELECT; its one parameter is the time.
LEASABLE_NOW_SQL = f"{LEASABLE.sql} AND (cooldown_until IS NULL OR cooldown_until <= %s)"


def leasable_now(now: datetime) -> Guard:
    """What the lease picks from: enabled, active or cooling down, and due."""
    return Guard(LEASABLE_NOW_SQL, (now,))


def quota_left_sql(kinds: tuple[str, ...]) -> str:
    """The lease's condition that none of `kinds` is used up at the time given once per kind (a parameter)."""
    return "".join(f" AND ({kind}_exhausted_until IS NULL OR {kind}_exhausted_until <= %s)"
                   for kind in kinds if kind in QUOTA_KINDS)


@dataclass(frozen=True)
class Changes:
    """What one event writes: `values` always, `guarded` only while `guard` holds on the row."""

    event: str
    values: Mapping[str, Any] = field(default_factory=dict)
    guarded: Mapping[str, Any] = field(default_factory=dict)
    guard: Guard | None = None

    def __post_init__(self) -> None:
        if self.guarded and self.guard is None:
            raise ValueError(f"{self.event}: guarded values need a guard")

    @property
    def empty(self) -> bool:
        return not (self.values or self.guarded)

    def including(self, **fields: Any) -> Changes:
        """The same change set that also writes plain fields (cookies, identity); never a state field."""
        owned = OWNED_FIELDS.intersection(fields)
        if owned:
            raise ValueError(f"{', '.join(sorted(owned))}: written by life-cycle events only")
        return replace(self, values={**self.values, **fields})

    def initial_values(self) -> dict[str, Any]:
        """The values as constructor arguments of a new Account (literals only, nothing guarded)."""
        if self.guarded or any(_is_expression(v) for v in self.values.values()):
            raise ValueError(f"{self.event}: not a set of initial values")
        return dict(self.values)

    def set_sql(self, table: str = TABLE) -> str:
        """The SET clause (without SET), columns qualified by `table`; params in `set_params()` order."""
        conditional = bool(self.values) and self.guard is not None
        parts = [f"{_column(name)} = {_value_sql(value, name, table)}" for name, value in self.values.items()]
        for name, value in self.guarded.items():
            sql = _value_sql(value, name, table)
            if conditional:
                sql = f"CASE WHEN {self.guard.sql} THEN {sql} ELSE {table}.{_column(name)} END"
            parts.append(f"{_column(name)} = {sql}")
        return ", ".join(parts)

    def set_params(self, using: str = "default", *, connection: Any = None) -> list[Any]:
        """The parameters of `set_sql()`, adapted for the database (`connection`: when the caller has it)."""
        connection = connection or connections[using]
        conditional = bool(self.values) and self.guard is not None
        params: list[Any] = []
        adapted: dict[datetime, Any] = {}  # an event often writes its time to several fields: adapt it once
        for name, value in self.values.items():
            params += _value_params(value, name, connection, adapted)
        for name, value in self.guarded.items():
            if conditional:
                params += _adapt(self.guard.params, connection)
            params += _value_params(value, name, connection, adapted)
        return params

    def where_sql(self) -> tuple[str, tuple[Any, ...]]:
        """Extra WHERE condition: the guard, when it is all there is (the rowcount then says if it held)."""
        if self.guard is not None and not self.values:
            return f" AND {self.guard.sql}", self.guard.params
        return "", ()

    @cached_property
    def by_id_sql(self) -> str:
        """The statement apply() runs: rendered once per change set (the constant ones are never re-rendered)."""
        return update_sql(self, f"WHERE id = %s{self.where_sql()[0]}")


# ---- writing ---------------------------------------------------------------------------------


def apply(account: Account | int, changes: Changes, *, using: str = "default") -> bool:
    """Write `changes` with one UPDATE of the account's row; False when nothing was written."""
    if changes.empty:
        return False
    pk = account if isinstance(account, int) else account.pk
    params = [*changes.set_params(using), pk, *_adapt(changes.where_sql()[1], connections[using])]
    return rawsql.execute(changes.by_id_sql, params, using=using) > 0


APPLY_BATCH = 500  # ids per UPDATE: well under SQLite's parameter limit, few round trips for a large import


def apply_many(account_ids: Sequence[int], changes: Changes, *, using: str = "default") -> int:
    """Write one change set to many accounts: one ``UPDATE ... WHERE id IN (...)`` per APPLY_BATCH ids.
    The guard, if any, is checked per row as in apply(); returns how many rows were written."""
    if changes.empty or not account_ids:
        return 0
    connection = connections[using]
    set_params = changes.set_params(connection=connection)
    where, where_params = changes.where_sql()
    where_params = _adapt(where_params, connection)
    written = 0
    for start in range(0, len(account_ids), APPLY_BATCH):
        ids = list(account_ids[start:start + APPLY_BATCH])
        sql = update_sql(changes, f"WHERE id IN ({', '.join(['%s'] * len(ids))}){where}")
        written += rawsql.execute(sql, [*set_params, *ids, *where_params], using=using)
    return written


def apply_each(changes_by_account: Iterable[tuple[int, Changes]], *, using: str = "default") -> int:
    """Write each account's own change set; accounts whose change sets are equal share apply_many()'s
    statements (an import switches thousands of accounts with a handful of distinct change sets)."""
    groups: list[tuple[Changes, list[int]]] = []
    for account_id, changes in changes_by_account:
        group = next((ids for known, ids in groups if known == changes), None)
        if group is None:
            groups.append((changes, group := []))
        group.append(account_id)
    return sum(apply_many(ids, changes, using=using) for changes, ids in groups)


def write_plain_fields(accounts: Sequence[Account], fields: Sequence[str], *, using: str = "default") -> int:
    """Write `fields` of each account as the objects hold them: plain fields only (cookies, identity, label:
    never a state field), one statement run for every account (executemany, one round trip per batch on
    PostgreSQL). For bulk edits that must leave the counters the pool moves meanwhile intact: Django's
    bulk_update() would do too, but builds a CASE per field and row and costs seconds per thousand rows."""
    owned = OWNED_FIELDS.intersection(fields)
    if owned:
        raise ValueError(f"{', '.join(sorted(owned))}: written by life-cycle events only")
    if not accounts or not fields:
        return 0
    connection = connections[using]
    model_fields = [_FIELDS[name] for name in fields]
    sql = f"UPDATE {TABLE} SET {', '.join(f'{f.column} = %s' for f in model_fields)} WHERE id = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[*(f.get_db_prep_save(getattr(account, f.attname), connection)
                                   for f in model_fields), account.pk] for account in accounts])
        return cursor.rowcount


def update_sql(changes: Changes, tail: str, *, alias: str = "") -> str:
    """``UPDATE accounts_account [AS alias] SET <changes> <tail>``: every UPDATE of an account's row is
    written here. Parameters: `changes.set_params()`, then the tail's."""
    target = f"{TABLE} AS {alias}" if alias else TABLE
    return f"UPDATE {target} SET {changes.set_sql(alias or TABLE)} {tail}"


def locked(account_id: int) -> Account:
    """The account as it is now, its row locked until the transaction ends (call inside atomic())."""
    return Account.objects.select_for_update().get(pk=account_id)


class TimeStamp:
    """An event whose only variable is its time, compiled once: the lease applies `leased` on every request,
    where building and adapting a change set each time cost a tenth of the lease."""

    _NOW = object()

    def __init__(self, event: Any) -> None:
        placeholder = datetime(2000, 1, 1, tzinfo=UTC)
        self.changes = event(now=placeholder)
        if self.changes.values and self.changes.guard is not None:
            raise ValueError(f"{self.changes.event}: a guard inside SET has parameters of its own")
        fields = {**self.changes.values, **self.changes.guarded}
        self._assign = [(name, self._NOW if value is placeholder else value) for name, value in fields.items()]
        self._slots: list[Any] = []
        for name, value in self._assign:
            if value is self._NOW:
                self._slots.append(self._NOW)
            elif _is_expression(value):
                self._slots += _expression_params(value)
            elif value is not None:
                if name not in _VERBATIM:
                    raise ValueError(f"{name}: needs adapting per database")
                self._slots.append(value)

    def params(self, at: Any) -> list[Any]:
        """The SET clause's parameters, with `at` the time as the database takes it (rawsql.db_datetime)."""
        return [at if slot is self._NOW else slot for slot in self._slots]

    def reflect(self, account: Account, now: datetime) -> Account:
        """Mirror the applied stamp onto `account` as read before it."""
        updates = [(name, now if value is self._NOW else _evaluate(value, account)) for name, value in self._assign]
        for name, value in updates:
            setattr(account, name, value)
        return account


# ---- events ----------------------------------------------------------------------------------


def created(*, enabled: bool, now: datetime, expires_at: datetime | None = None) -> Changes:
    """A new account: active unless disabled, its cookies obtained now."""
    return Changes("created", {"enabled": enabled, "status": _on_or_off(enabled), **_login_times(now, expires_at)})


def enabled(account: Account, *, now: datetime) -> Changes:
    """An operator switches the account on (or acknowledges its needs_attention).

    It comes back where its last error puts it: needing a login while a login problem is its last error
    since its last login or a refresh needed a person, else active, at the place in the lease order its
    last use gives it.
    """
    if account.enabled and account.status not in (AccountStatus.DISABLED, AccountStatus.NEEDS_ATTENTION):
        return Changes("enabled")
    return Changes("enabled", {"enabled": True, "status": _resume_status(account), **_BACK_IN_ORDER,
                               "attention_reason": "", "updated_at": now})


def disabled(*, now: datetime) -> Changes:
    """An operator switches the account off."""
    return Changes("disabled", {"enabled": False, "status": AccountStatus.DISABLED.value, **_BACK_IN_ORDER,
                                "updated_at": now})


def cookies_replaced(*, now: datetime, expires_at: datetime | None = None) -> Changes:
    """New cookies: they deserve a chance, so an account out for its login is active again."""
    return Changes("cookies_replaced", {**_login_times(now, expires_at), "attention_reason": "", "updated_at": now},
                   guarded={"status": AccountStatus.ACTIVE.value, **_BACK_IN_ORDER}, guard=_OUT_FOR_LOGIN)


_NOTHING: Mapping[str, Any] = {}
_ONE_MORE_REQUEST = F("request_count") + 1
_ACTIVE = AccountStatus.ACTIVE.value


def leased(*, now: datetime) -> Changes:
    """The pool hands the account out: stamped as used now; a cooldown that has run out ends."""
    return Changes("leased", _NOTHING, {"last_used_at": now, "ready_at": now, "request_count": _ONE_MORE_REQUEST,
                                        "status": _ACTIVE, "cooldown_until": None}, leasable_now(now))


_SUCCEEDED = Changes("succeeded", {"success_count": F("success_count") + 1, "consecutive_failures": 0,
                                   "cooldown_streak": 0})  # one object: its statement is rendered once


def succeeded() -> Changes:
    """The account answered: its failure streaks are forgotten."""
    return _SUCCEEDED


def successes_counted(count: int) -> Changes:
    """`count` answers of an account whose lease saw no failure streak to forget: only counted, so they may
    be written later and in any order (metering.record_writer); a failure in between keeps its streak."""
    return Changes("successes_counted", {"success_count": F("success_count") + count})


def cooldown_seconds(*, streak: int, pool: PoolSettings, retry_after: float | None) -> float:
    """How long a rate-limited account rests: the upstream's hint, else base * 2^streak up to the cap."""
    if retry_after and retry_after > 0:
        return min(float(retry_after), float(pool.cooldown_max_seconds) * 4)
    return float(min(pool.cooldown_base_seconds * (2 ** min(streak, 20)), pool.cooldown_max_seconds))


def rate_limited(*, error: UpstreamError, streak: int, pool: PoolSettings, now: datetime) -> Changes:
    """A leasable account cools down for `cooldown_seconds()`; its backoff streak grows."""
    until = now + timedelta(seconds=cooldown_seconds(streak=streak, pool=pool, retry_after=error.retry_after))
    return Changes("rate_limited", _failure(error, now), guarded={
        "status": AccountStatus.COOLING_DOWN.value, "cooldown_until": until, "ready_at": until,
        "cooldown_streak": Least(F("cooldown_streak") + 1, Value(STREAK_CAP))}, guard=LEASABLE)


def login_failed(*, error: UpstreamError, now: datetime) -> Changes:
    """Dead cookies, a refused token or a banned seat: out until its login is fixed."""
    return Changes("login_failed", _failure(error, now), guarded={"status": AccountStatus.NEEDS_LOGIN.value,
                                                                  **_BACK_IN_ORDER}, guard=_IN_SERVICE)


def transient_failure(*, error: UpstreamError, pool: PoolSettings, now: datetime) -> Changes:
    """A 5xx, a timeout or a broken stream: a short rest, which never shortens a longer cooldown."""
    seconds = pool.unavailable_rest_seconds
    if seconds <= 0:
        return Changes("transient_failure", _failure(error, now))
    until = now + timedelta(seconds=seconds)
    return Changes("transient_failure", _failure(error, now), guarded={
        "status": AccountStatus.COOLING_DOWN.value, "cooldown_until": until, "ready_at": until},
        guard=LEASABLE & Guard("(cooldown_until IS NULL OR cooldown_until < %s)", (until,)))


def quota_exhausted(*, kind: str, until: datetime, now: datetime, error: UpstreamError | None = None) -> Changes:
    """One kind of the account's daily quota is used up until `until`: only that kind rests."""
    if kind not in QUOTA_KINDS:
        raise ValueError(f"unknown quota kind {kind!r}")
    values: dict[str, Any] = {f"{kind}_exhausted_until": until}
    if error is not None:
        values.update(_error_fields(error.kind, error.message, now), failure_count=F("failure_count") + 1)
    return Changes("quota_exhausted", values)


def failed(*, error: UpstreamError, streak: int, pool: PoolSettings, now: datetime,
           quota_resets_at: datetime | None = None) -> Changes | None:
    """What an upstream error does to the account that met it; None when the request was at fault.

    A 429 naming a daily quota (`error.quota_kind`) rests that kind until `quota_resets_at`, not the account.
    """
    if isinstance(error, InvalidRequest | PolicyBlocked) or not error.account_fault:
        return None  # another account would fail the same way
    if isinstance(error, RateLimited) and getattr(error, "quota_kind", None) and quota_resets_at is not None:
        return quota_exhausted(kind=error.quota_kind, until=quota_resets_at, now=now, error=error)
    if isinstance(error, RateLimited):
        return rate_limited(error=error, streak=streak, pool=pool, now=now)
    if isinstance(error, LOGIN_ERRORS):
        return login_failed(error=error, now=now)
    return transient_failure(error=error, pool=pool, now=now)


def test_passed(account: Account, *, now: datetime) -> Changes:
    """The login works: an account out for its login is active again; its error is forgotten unless it
    is cooling down (the error says why)."""
    values: dict[str, Any] = {"consecutive_failures": 0, "attention_reason": "", "updated_at": now}
    if account.enabled and account.status in (AccountStatus.NEEDS_LOGIN, AccountStatus.NEEDS_ATTENTION):
        values.update(status=AccountStatus.ACTIVE.value, **_BACK_IN_ORDER)
    if account.status != AccountStatus.COOLING_DOWN:
        values.update(last_error_kind="", last_error_reason="", last_error_at=None)
    return Changes("test_passed", values)


test_passed.__test__ = False  # a life-cycle event, not a pytest test, wherever it is imported


def test_failed(account: Account, *, error: UpstreamError, now: datetime) -> Changes:
    """The test met an error: recorded; a login problem takes an account in service out for its login."""
    values: dict[str, Any] = {**_error_fields(error.kind, error.message, now),
                              "consecutive_failures": F("consecutive_failures") + 1, "updated_at": now}
    if account.enabled and isinstance(error, LOGIN_ERRORS) and account.status in _IN_SERVICE_STATUSES:
        values.update(status=AccountStatus.NEEDS_LOGIN.value, **_BACK_IN_ORDER)
    return Changes("test_failed", values)


test_failed.__test__ = False


def cooldown_cleared(*, now: datetime) -> Changes:
    """An operator ends the cooldown now and forgets the backoff streak."""
    return Changes("cooldown_cleared", {**_BACK_IN_ORDER, "cooldown_streak": 0, "updated_at": now},
                   guarded={"status": AccountStatus.ACTIVE.value}, guard=status_in(AccountStatus.COOLING_DOWN))


def login_refreshed(*, secure_c_ses: str, host_c_oses: str, csesidx: str, team_id: str, now: datetime,
                    user_agent: str | None = None, expires_at: datetime | None = None) -> Changes:
    """The re-login worker has a new login: stored, and an account out for its login is active again."""
    identity = {"secure_c_ses": secure_c_ses, "host_c_oses": host_c_oses, "csesidx": csesidx, "team_id": team_id}
    if user_agent is not None:
        identity["user_agent"] = user_agent
    return replace(cookies_replaced(now=now, expires_at=expires_at).including(**identity), event="login_refreshed")


def refresh_failed(*, hard: bool, reason: str, now: datetime) -> Changes:
    """A re-login attempt failed. Soft: recorded, the worker backs off and tries again. Hard (a CAPTCHA,
    "access restricted"): the account needs a person and is neither leased nor retried until one acts."""
    values = _error_fields(REFRESH_FAILED, reason, now)
    if not hard:
        return Changes("refresh_failed", values)
    return Changes("refresh_failed", {**values, "attention_reason": reason[:REASON_CHARS]},
                   guarded={"status": AccountStatus.NEEDS_ATTENTION.value, **_BACK_IN_ORDER},
                   guard=Guard(f"enabled AND status <> '{AccountStatus.DISABLED.value}'"))


# ---- reading ---------------------------------------------------------------------------------


def effective_status(account: Account, now: datetime | None = None) -> str:
    """The status as the pool sees it: a cooldown that has run out counts as active (the lease clears it)."""
    if not account.enabled or account.status == AccountStatus.DISABLED:
        return AccountStatus.DISABLED.value
    if account.status in (AccountStatus.NEEDS_LOGIN, AccountStatus.NEEDS_ATTENTION):
        return AccountStatus(account.status).value
    return AccountStatus.COOLING_DOWN.value if account.cooldown_remaining(now) > 0 else AccountStatus.ACTIVE.value


def status_filters(now: datetime) -> dict[str, Q]:
    """`effective_status()` as query filters, one per status except active (every other account)."""
    on = Q(enabled=True) & ~Q(status=AccountStatus.DISABLED)
    return {
        AccountStatus.COOLING_DOWN.value: on & resting(now),
        AccountStatus.NEEDS_LOGIN.value: on & Q(status=AccountStatus.NEEDS_LOGIN),
        AccountStatus.NEEDS_ATTENTION.value: on & Q(status=AccountStatus.NEEDS_ATTENTION),
        AccountStatus.DISABLED.value: ~on,
    }


def resting(now: datetime) -> Q:
    """Leasable accounts whose cooldown has not run out at `now`."""
    return Q(enabled=True, status__in=LEASABLE_STATUSES, cooldown_until__gt=now)


# ---- rules shared by the events --------------------------------------------------------------

# Back where its last use puts it in the lease order, not where a rest would have ended.
_BACK_IN_ORDER = {"cooldown_until": None, "ready_at": F("last_used_at")}
_IN_SERVICE_STATUSES = (AccountStatus.ACTIVE, AccountStatus.COOLING_DOWN, AccountStatus.NEEDS_LOGIN)
_IN_SERVICE = status_in(*_IN_SERVICE_STATUSES)  # needs_attention waits for a person, whatever fails
_OUT_FOR_LOGIN = Guard("enabled") & status_in(AccountStatus.NEEDS_LOGIN, AccountStatus.NEEDS_ATTENTION)


def _on_or_off(enabled: bool) -> str:
    return (AccountStatus.ACTIVE if enabled else AccountStatus.DISABLED).value


def _resume_status(account: Account) -> str:
    if account.attention_reason:
        return AccountStatus.NEEDS_LOGIN.value  # acknowledged; the login itself is still to be redone
    login_problem = account.last_error_kind in LOGIN_ERROR_KINDS and not (
        account.logged_in_at and account.last_error_at and account.last_error_at < account.logged_in_at)
    return (AccountStatus.NEEDS_LOGIN if login_problem else AccountStatus.ACTIVE).value


def _login_times(now: datetime, expires_at: datetime | None) -> dict[str, datetime]:
    lifetime = timedelta(hours=settings.GEMPOOL_LOGIN_LIFETIME_HOURS)
    return {"logged_in_at": now, "login_expires_at": expires_at or now + lifetime}


def _error_fields(kind: str, reason: str, now: datetime) -> dict[str, Any]:
    return {"last_error_kind": kind, "last_error_reason": reason[:REASON_CHARS], "last_error_at": now}


def _failure(error: UpstreamError, now: datetime) -> dict[str, Any]:
    return {**_error_fields(error.kind, error.message, now), "failure_count": F("failure_count") + 1,
            "consecutive_failures": F("consecutive_failures") + 1}


# ---- SQL of a change set: a few expression shapes, rendered without compiling an ORM query ----------
# (compiling costs more than these one-row statements take to run; see gempool_site.rawsql)


_FIELDS = {f.name: f for f in Account._meta.concrete_fields}
# Fields whose Python values are already what the database driver takes (no encryption, no conversion).
_VERBATIM = frozenset(f.name for f in Account._meta.concrete_fields if type(f) in (
    models.CharField, models.BooleanField, models.PositiveIntegerField, models.PositiveBigIntegerField))


def _column(name: str) -> str:
    return _FIELDS[name].column


def _is_expression(value: Any) -> bool:
    return hasattr(value, "resolve_expression")


def _value_sql(value: Any, name: str, table: str) -> str:
    if value is None:
        return "NULL"
    if not _is_expression(value):
        return "%s"
    return _expression_sql(value, table)


def _expression_sql(expression: Any, table: str) -> str:
    if isinstance(expression, F):
        return f"{table}.{_column(expression.name)}"
    if isinstance(expression, Value):
        return str(expression.value) if _is_int(expression.value) else "%s"  # `+ 1` reads as it is meant
    if isinstance(expression, CombinedExpression) and expression.connector in ("+", "-"):
        lhs, rhs = (_expression_sql(part, table) for part in (expression.lhs, expression.rhs))
        return f"{lhs} {expression.connector} {rhs}"
    if isinstance(expression, Least) and len(expression.source_expressions) == 2:
        a, b = (_expression_sql(part, table) for part in expression.source_expressions)
        return f"CASE WHEN {a} < {b} THEN {a} ELSE {b} END"  # LEAST on PostgreSQL, MIN on SQLite: one spelling
    raise TypeError(f"no SQL for {expression!r} in a change set")


def _value_params(value: Any, name: str, connection: Any, adapted: dict[datetime, Any]) -> list[Any]:
    if value is None:
        return []
    if type(value) is datetime:
        if value not in adapted:
            adapted[value] = connection.ops.adapt_datetimefield_value(value)
        return [adapted[value]]
    if name in _VERBATIM and not _is_expression(value):
        return [value]
    if not _is_expression(value):
        return [_FIELDS[name].get_db_prep_save(value, connection)]  # e.g. encrypts a cookie
    return _expression_params(value)


def _expression_params(expression: Any) -> list[Any]:
    if isinstance(expression, Value):
        return [] if _is_int(expression.value) else [expression.value]
    if isinstance(expression, CombinedExpression):
        return _expression_params(expression.lhs) + _expression_params(expression.rhs)
    if isinstance(expression, Least):
        a, b = (_expression_params(part) for part in expression.source_expressions)
        return a + b + a + b  # each operand appears twice in the CASE
    return []


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _adapt(params: tuple[Any, ...], connection: Any) -> list[Any]:
    return [connection.ops.adapt_datetimefield_value(p) if isinstance(p, datetime) else p for p in params]


def _evaluate(value: Any, account: Account) -> Any:
    if not _is_expression(value):
        return value
    if isinstance(value, F):
        return getattr(account, value.name)
    if isinstance(value, Value):
        return value.value
    if isinstance(value, CombinedExpression) and value.connector in ("+", "-"):
        lhs, rhs = _evaluate(value.lhs, account), _evaluate(value.rhs, account)
        return lhs + rhs if value.connector == "+" else lhs - rhs
    if isinstance(value, Least):
        return min(_evaluate(part, account) for part in value.source_expressions)
    raise TypeError(f"cannot evaluate {value!r}")


LEASE_STAMP = TimeStamp(leased)  # the lease statement's SET clause, parameters and in-memory mirror
