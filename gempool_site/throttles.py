"""Request counting in the shared cache: one atomic fixed-window counter behind every throttle.

`cache.add` creates a window's counter only if it is missing and `cache.incr` bumps it in one step: both are
atomic on Redis and on the local-memory cache, so concurrent requests (threads, greenlets, processes sharing
Redis) never lose a count the way a get-then-set does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


def counter_add(key: str, amount: int, *, timeout: int) -> int:
    """Add `amount` to the shared counter `key` (created at 0 with `timeout` seconds to live); its new value."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key, amount)
    except ValueError:  # evicted between add and incr: the counter starts again with this amount
        cache.add(key, amount, timeout=timeout)
        return amount


@dataclass(frozen=True)
class FixedWindow:
    """Counts events per identity in fixed windows of `seconds` (the window's number is part of the key)."""

    scope: str
    seconds: int

    def _key(self, identity: str, now: float) -> str:
        return f"{self.scope}:{identity}:{int(now // self.seconds)}"

    def hit(self, identity: str, amount: int = 1, *, now: float | None = None) -> int:
        """Add `amount` events and return the window's count so far."""
        return counter_add(self._key(identity, time.time() if now is None else now), amount,
                           timeout=self.seconds * 2)

    def count(self, identity: str, *, now: float | None = None) -> int:
        return cache.get(self._key(identity, time.time() if now is None else now)) or 0

    def counts(self, identities: list[str], *, now: float | None = None) -> list[int]:
        """count() of several identities in one cache round trip."""
        at = time.time() if now is None else now
        keys = [self._key(identity, at) for identity in identities]
        found = cache.get_many(keys)
        return [found.get(key) or 0 for key in keys]

    def seconds_left(self, *, now: float | None = None) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        at = time.time() if now is None else now
        return max(1, int(self.seconds - at % self.seconds + 0.999))


API_KEY_MINUTE = FixedWindow("ratelimit", 60)


def api_key_limit(api_key) -> int:
    """Requests per minute allowed to a key: its own limit, else GEMPOOL_RATE_LIMIT_PER_MINUTE (0 = off)."""
    limit = getattr(api_key, "rate_limit_per_minute", None)
    return settings.GEMPOOL_RATE_LIMIT_PER_MINUTE if limit is None else limit


def api_key_charge(api_key, amount: int) -> bool:
    """Count `amount` more requests against the key's minute; False once the limit is passed."""
    limit = api_key_limit(api_key)
    if not api_key or not limit:
        return True
    return API_KEY_MINUTE.hit(api_key.key_hash[:24], amount) <= limit


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed one-minute window per key; the limit is the key's own or GEMPOOL_RATE_LIMIT_PER_MINUTE (0 = off)."""

    def allow_request(self, request, view) -> bool:
        return api_key_charge(request.auth, 1)

    def wait(self) -> float | None:
        return float(API_KEY_MINUTE.seconds_left())
