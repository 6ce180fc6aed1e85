"""Login throttling: failed sign-ins are counted per client address and per user name, in the shared cache.

Counting per user name as well stops a guesser who rotates addresses; counting per address stops one who
rotates user names. Only failures count, so an operator who types the password right is never slowed.
"""
from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def login_rate() -> tuple[int, int]:
    """(failures allowed, window seconds) from the "login" throttle rate, e.g. "10/min"."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login"]
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def _keys(address: str, username: str) -> list[str]:
    # Hashed so a user name typed into the form never sits in the cache (or Redis) in clear.
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:ip:{address}", f"login-fail:user:{digest}"]


def login_blocked_for(*, address: str, username: str) -> int:
    """Seconds until another attempt is allowed (0 = allowed now)."""
    limit, window = login_rate()
    waits = []
    for key in _keys(address, username):
        entry = cache.get(key)
        if entry and entry[0] >= limit:
            waits.append(max(1, int(entry[1] + window - time.time())))
    return max(waits, default=0)


def login_failed(*, address: str, username: str) -> None:
    """Count one failed attempt (a fixed window that starts with the first failure)."""
    _, window = login_rate()
    now = time.time()
    for key in _keys(address, username):
        count, started = cache.get(key) or (0, now)
        cache.set(key, (count + 1, started), timeout=max(1, int(started + window - now)))
