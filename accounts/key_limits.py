"""Per-key limits on completions: model allow-list, requests and estimated tokens per day, concurrency.

`key_admit` runs when a completion starts (in the shared run engine, so every API face gets it and renders
a refusal in its own envelope); `key_release` runs in the request's bookkeeping transaction. Counts live in
the database and change by single atomic statements, so every worker and instance shares them. A key
without limits costs nothing: no statement runs.

Days are UTC days, like the usage rollup. A request is admitted while the day's estimated tokens are under
the budget; its own tokens are known only once it is answered, so the last admitted request may pass the
budget by its size. Two requests racing for a key's last concurrency slot may both be refused (each counts
the other's claim), never both admitted.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db import connections, transaction
from django.utils import timezone

from accounts.models import ApiKey
from gempool_site import rawsql
from metering import metrics

logger = logging.getLogger(__name__)

# How long a claimed concurrency slot counts if its request never releases it (a worker killed mid-stream).
IN_FLIGHT_EXPIRES = timedelta(hours=1)
CONCURRENCY_RETRY_AFTER = 1  # seconds: slots free up as answers finish


@dataclass(frozen=True)
class KeyRefusal:
    """Why a completion may not start: what the client is told and where it applies."""

    status: int
    code: str
    message: str
    limit: str  # which limit, for the metrics
    retry_after: int | None = None

    @property
    def type(self) -> str:
        return "rate_limit_error" if self.status == 429 else "permission_error"


@dataclass(frozen=True)
class KeyAdmission:
    """What an admitted completion holds until `key_release`."""

    api_key_id: int
    day: date
    counts_day: bool
    in_flight_id: int | None


def key_admit(*, api_key: ApiKey | None, model_id: str, now: datetime | None = None
              ) -> KeyAdmission | KeyRefusal | None:
    """Admit a completion for `api_key` (claims its day count and a concurrency slot), or say why not.

    None: the key has no limits and nothing was counted.
    """
    if api_key is None or not api_key.has_limits:
        return None
    admitted = _admit(api_key, model_id, now or timezone.now())
    if isinstance(admitted, KeyRefusal):
        metrics.rate_limit_rejected(limit=admitted.limit, key=api_key.name)
        logger.info("key limit refused a completion", extra={"key_prefix": api_key.prefix, "limit": admitted.limit})
    return admitted


def _admit(api_key: ApiKey, model_id: str, now: datetime) -> KeyAdmission | KeyRefusal:
    if api_key.allowed_models and model_id not in api_key.allowed_models:
        return KeyRefusal(403, "model_not_allowed", f"This API key may not use the model {model_id!r}; it may "
                          f"use {', '.join(api_key.allowed_models)}.", limit="model_allow_list")
    # Each claim is its own committed statement, made before the count that judges it: two requests racing
    # for the last unit each see the other's claim (both may be refused, never both admitted). A refused
    # request gives back what it claimed.
    day = now.astimezone(UTC).date()
    counts_day = api_key.requests_per_day is not None or api_key.tokens_per_day is not None
    if counts_day:
        requests, tokens = _day_claim(api_key.pk, day)
        refusal = None
        if api_key.requests_per_day is not None and requests > api_key.requests_per_day:
            refusal = _over_day(now, "requests_per_day", f"{api_key.requests_per_day} requests")
        elif api_key.tokens_per_day is not None and tokens >= api_key.tokens_per_day:
            refusal = _over_day(now, "tokens_per_day", f"{api_key.tokens_per_day} estimated tokens")
        if refusal is not None:
            _day_unclaim(api_key.pk, day)
            return refusal
    admission = KeyAdmission(api_key_id=api_key.pk, day=day, counts_day=counts_day, in_flight_id=None)
    if api_key.max_concurrent is None:
        return admission
    slot, running = _slot_claim(api_key.pk, now)
    admission = KeyAdmission(api_key_id=api_key.pk, day=day, counts_day=counts_day, in_flight_id=slot)
    if running > api_key.max_concurrent:
        with transaction.atomic():
            key_release(admission=admission, tokens=0, now=now)
            if counts_day:
                _day_unclaim(api_key.pk, day)
        return KeyRefusal(429, "concurrency_limit_exceeded", f"This API key may run {api_key.max_concurrent} "
                          "completion(s) at once; wait for one to finish.", limit="concurrency",
                          retry_after=CONCURRENCY_RETRY_AFTER)
    return admission


def _over_day(now: datetime, limit: str, budget: str) -> KeyRefusal:
    utc = now.astimezone(UTC)
    midnight = datetime(utc.year, utc.month, utc.day, tzinfo=UTC) + timedelta(days=1)
    wait = max(1, int((midnight - utc).total_seconds() + 0.999))
    code = "daily_request_limit_exceeded" if limit == "requests_per_day" else "daily_token_limit_exceeded"
    return KeyRefusal(429, code, f"This API key has used its daily budget of {budget}; it renews at 00:00 UTC "
                      f"(in {wait} s).", limit=limit, retry_after=wait)


_DAY_CLAIM = ("INSERT INTO accounts_keydayuse (api_key_id, day, requests, tokens) VALUES (%s, %s, 1, 0) "
              "ON CONFLICT (api_key_id, day) DO UPDATE SET requests = accounts_keydayuse.requests + 1 "
              "RETURNING requests, tokens")


def _day_claim(api_key_id: int, day: date) -> tuple[int, int]:
    """Count one more request today (atomically, whoever else is counting) and return the day's totals."""
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute(_DAY_CLAIM, [api_key_id, connection.ops.adapt_datefield_value(day)])
        requests, tokens = cursor.fetchone()
    return requests, tokens


def _day_unclaim(api_key_id: int, day: date) -> None:
    rawsql.execute("UPDATE accounts_keydayuse SET requests = requests - 1 WHERE api_key_id = %s AND day = %s",
                   [api_key_id, connections["default"].ops.adapt_datefield_value(day)])


def _slot_claim(api_key_id: int, now: datetime) -> tuple[int, int]:
    """Claim a concurrency slot; returns its id and how many live slots the key holds, this one included."""
    stamp = rawsql.db_datetime(now)
    slot = rawsql.fetch_value("INSERT INTO accounts_keyinflight (api_key_id, expires_at) VALUES (%s, %s) "
                              "RETURNING id", [api_key_id, rawsql.db_datetime(now + IN_FLIGHT_EXPIRES)])
    running = rawsql.fetch_value("SELECT COUNT(*) FROM accounts_keyinflight WHERE api_key_id = %s "
                                 "AND expires_at > %s", [api_key_id, stamp])
    return slot, running


def key_release(*, admission: KeyAdmission | None, tokens: int, now: datetime | None = None) -> None:
    """The completion ended: add its tokens to its day and free its slot (and any expired ones of the key)."""
    if admission is None:
        return
    if admission.counts_day and tokens:
        rawsql.execute("UPDATE accounts_keydayuse SET tokens = tokens + %s WHERE api_key_id = %s AND day = %s",
                       [tokens, admission.api_key_id,
                        connections["default"].ops.adapt_datefield_value(admission.day)])
    if admission.in_flight_id is not None:
        rawsql.execute("DELETE FROM accounts_keyinflight WHERE id = %s OR (api_key_id = %s AND expires_at <= %s)",
                       [admission.in_flight_id, admission.api_key_id, rawsql.db_datetime(now or timezone.now())])
