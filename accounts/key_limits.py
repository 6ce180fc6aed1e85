"""A key's own limits: model allow-list, expiry, daily request and token budgets, concurrent requests.

Counting lives in the shared cache (Redis when REDIS_URL is set), so every worker and instance counts together:

- Daily budgets: one counter per key and quota day (gempool_site.quota_day), bumped with `counter_add` (cache
  add + incr: atomic, no lost counts), living until the day ends plus an hour. A request refused for its
  request budget is taken back off the counter, so the count is what was let through. Tokens are estimated
  after the answer (`KeyAdmission.finish`) and refuse the next request once the budget is used up.
- Concurrency: `max_concurrent_requests` slots per key, each a cache entry taken with `cache.add`
  (set-if-absent: atomic) holding the request's token for GEMPOOL_KEY_SLOT_TTL_SECONDS. The running request
  renews it as its answer moves, its end (finished, failed, or the client left) deletes it, and the slot of a
  worker that died mid-request expires by itself.

A key without limits costs nothing here: no cache call at all.
"""
from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from accounts.models import ApiKey
from gempool_site.exceptions import (
    ApiKeyExpired,
    ConcurrencyLimitExceeded,
    DailyRequestBudgetExceeded,
    DailyTokenBudgetExceeded,
    ModelNotAllowed,
)
from gempool_site.quota_day import QuotaDay, quota_day
from gempool_site.throttles import counter_add

logger = logging.getLogger(__name__)

CONCURRENCY_RETRY_AFTER = 1  # a slot frees when any request of the key ends: try again soon
COUNTER_GRACE_SECONDS = 3600  # a day's counter outlives its day a little (clocks differ between hosts)


def key_check_expiry(api_key: ApiKey, *, now: datetime | None = None) -> None:
    """ApiKeyExpired (401) once the key's expiry date has passed."""
    if api_key.expired(now):
        raise ApiKeyExpired(f"This API key expired at {api_key.expires_at:%Y-%m-%d %H:%M} UTC.")


def key_check_model(api_key: ApiKey | None, *, model_id: str) -> None:
    """ModelNotAllowed (403) when the key has an allow-list without `model_id`."""
    allowed = api_key.allowed_models if api_key is not None else None
    if allowed and model_id not in allowed:
        raise ModelNotAllowed(f"This API key may not use the model {model_id!r}; it may use: "
                              f"{', '.join(allowed)}.", param="model")


def _counter_key(kind: str, api_key: ApiKey, day: QuotaDay) -> str:
    return f"keylimit:{kind}:{api_key.pk}:{day.label}"


def _counter_timeout(day: QuotaDay, now: datetime) -> int:
    return day.seconds_left(now) + COUNTER_GRACE_SECONDS


@dataclass
class KeySlot:
    """One of a key's concurrency slots, held by one request."""

    cache_key: str
    token: str
    renewed: float = field(default_factory=time.monotonic)
    released: bool = False

    def renew(self) -> None:
        """Extend the slot's life while the request runs (at most every third of its TTL: one cache call)."""
        ttl = settings.GEMPOOL_KEY_SLOT_TTL_SECONDS
        if self.released or time.monotonic() - self.renewed < ttl / 3:
            return
        self.renewed = time.monotonic()
        cache.touch(self.cache_key, ttl)

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        # Ours unless it expired meanwhile and another request took it: then it is theirs to release.
        if cache.get(self.cache_key) == self.token:
            cache.delete(self.cache_key)


@dataclass
class KeyAdmission:
    """A request let in under its key's limits: renew while it runs, finish once when it ends."""

    api_key: ApiKey
    day: QuotaDay
    slot: KeySlot | None = None
    finished: bool = False

    def renew(self) -> None:
        if self.slot is not None:
            self.slot.renew()

    def finish(self, *, tokens: int) -> None:
        """The request ended: charge its estimated tokens to the day it started in, free its slot."""
        if self.finished:
            return
        self.finished = True
        try:
            if self.api_key.daily_token_budget is not None and tokens > 0:
                now = timezone.now()
                counter_add(_counter_key("tokens", self.api_key, self.day), tokens,
                            timeout=_counter_timeout(self.day, now))
        finally:
            if self.slot is not None:
                self.slot.release()


def key_admit(*, api_key: ApiKey | None, now: datetime | None = None) -> KeyAdmission | None:
    """Let a request in under its key's budgets and concurrency limit, or raise the limit's KeyLimitExceeded.

    None when the key has none of those limits. The caller must `finish()` what it gets (the run does).
    """
    if api_key is None or not _has_counted_limits(api_key):
        return None
    now = now or timezone.now()
    day = quota_day(now)
    _check_tokens(api_key, day, now)
    slot = _take_slot(api_key) if api_key.max_concurrent_requests is not None else None
    try:
        _charge_request(api_key, day, now)
    except DailyRequestBudgetExceeded:
        if slot is not None:
            slot.release()
        raise
    return KeyAdmission(api_key=api_key, day=day, slot=slot)


def _has_counted_limits(api_key: ApiKey) -> bool:
    return (api_key.daily_request_budget is not None or api_key.daily_token_budget is not None
            or api_key.max_concurrent_requests is not None)


def _check_tokens(api_key: ApiKey, day: QuotaDay, now: datetime) -> None:
    budget = api_key.daily_token_budget
    if budget is None:
        return
    used = cache.get(_counter_key("tokens", api_key, day)) or 0
    if used >= budget:
        wait = day.seconds_left(now)
        _log_refusal(api_key, "daily_token_budget_exceeded")
        raise DailyTokenBudgetExceeded(f"This API key has used its daily budget of {budget} estimated tokens "
                                       f"({used} used); it resets in {wait} s.", retry_after=wait)


def _charge_request(api_key: ApiKey, day: QuotaDay, now: datetime) -> None:
    budget = api_key.daily_request_budget
    if budget is None:
        return
    key = _counter_key("requests", api_key, day)
    if counter_add(key, 1, timeout=_counter_timeout(day, now)) <= budget:
        return
    try:
        cache.decr(key)  # refused: not counted as let through
    except ValueError:
        pass  # expired meanwhile: nothing to take back
    wait = day.seconds_left(now)
    _log_refusal(api_key, "daily_request_budget_exceeded")
    raise DailyRequestBudgetExceeded(f"This API key has used its daily budget of {budget} requests; it resets "
                                     f"in {wait} s.", retry_after=wait)


def _take_slot(api_key: ApiKey) -> KeySlot:
    limit = api_key.max_concurrent_requests
    keys = [f"keylimit:slot:{api_key.pk}:{index}" for index in range(limit)]
    held = cache.get_many(keys)  # one round trip to find the free ones; add() below settles any race
    free = [key for key in keys if key not in held]
    random.shuffle(free)  # concurrent requests try different slots first
    token = secrets.token_hex(8)
    for key in free:
        if cache.add(key, token, timeout=settings.GEMPOOL_KEY_SLOT_TTL_SECONDS):
            return KeySlot(cache_key=key, token=token)
    _log_refusal(api_key, "concurrency_limit_exceeded")
    raise ConcurrencyLimitExceeded(f"This API key already has {limit} request(s) in flight, its limit; try again "
                                   "when one has finished.", retry_after=CONCURRENCY_RETRY_AFTER)


def key_usage_today(api_key: ApiKey, *, now: datetime | None = None) -> dict[str, int]:
    """Requests and estimated tokens counted today against the key's budgets, and requests in flight."""
    day = quota_day(now)
    slots = [f"keylimit:slot:{api_key.pk}:{index}" for index in range(api_key.max_concurrent_requests or 0)]
    found = cache.get_many([_counter_key("requests", api_key, day), _counter_key("tokens", api_key, day), *slots])
    return {"requests": found.get(_counter_key("requests", api_key, day)) or 0,
            "tokens": found.get(_counter_key("tokens", api_key, day)) or 0,
            "in_flight": sum(1 for key in slots if key in found)}


def _log_refusal(api_key: ApiKey, code: str) -> None:
    logger.info("api key limit refused a request", extra={"key_prefix": api_key.prefix, "code": code})
