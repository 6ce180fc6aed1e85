"""Per-API-key request limits (requests per minute), shared across processes through the cache."""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


class ApiKeyRateThrottle(BaseThrottle):
    """A fixed one-minute window per key; the limit is the key's own or GEMPOOL_RATE_LIMIT_PER_MINUTE (0 = off)."""

    def allow_request(self, request, view) -> bool:
        api_key = request.auth
        limit = getattr(api_key, "rate_limit_per_minute", None)
        if limit is None:
            limit = settings.GEMPOOL_RATE_LIMIT_PER_MINUTE
        if not api_key or not limit:
            return True
        now = time.time()
        window = int(now // 60)
        key = f"ratelimit:{api_key.key_hash[:24]}:{window}"
        cache.add(key, 0, timeout=120)
        try:
            count = cache.incr(key)
        except ValueError:  # evicted between add and incr: start the window again
            cache.set(key, 1, timeout=120)
            count = 1
        self._wait = 60 - (now % 60)
        return count <= limit

    def wait(self) -> float | None:
        return getattr(self, "_wait", 60.0)
