"""Django's Redis cache with one client, and so one connection pool, per process.

Django makes a cache backend per thread, which under gevent means per greenlet: one for each client
connection, and one for each request Django handles on a greenlet of its own (gempool_site/fresh_stack.py).
Django's RedisCache builds its client, with a connection pool of its own, per backend instance: 300 streams
opened at once on two workers held 105 connections to Redis, and every new greenlet paid a TCP handshake for
its first rate-limit check (26-48 connections with the shared client). The client here is kept per process
for each server list and option set; redis-py's pool is safe to share between threads and greenlets, and
makes its own connections again after a fork.

It overrides RedisCache's `_cache` (a cached property building `self._class(self._servers, **self._options)`);
tests/gempool_site/test_redis_cache.py pins those names, so a Django upgrade that changes them fails there.
"""
from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property

_clients: dict[tuple[str, ...], Any] = {}
_clients_lock = threading.Lock()


class ProcessSharedRedisCache(RedisCache):
    @cached_property  # as Django's: looked up once per instance, not on every cache call
    def _cache(self) -> Any:
        key = (*self._servers, repr(sorted(self._options.items())), self._class.__qualname__)
        client = _clients.get(key)
        if client is None:
            with _clients_lock:
                client = _clients.get(key)
                if client is None:
                    client = _clients[key] = self._class(self._servers, **self._options)
        return client
