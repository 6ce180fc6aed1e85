"""ProcessSharedRedisCache: Django's Redis cache with one client per process, however many instances."""
from __future__ import annotations

import uuid

import pytest
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

from gempool_site.redis_cache import ProcessSharedRedisCache

pytestmark = pytest.mark.redis


def _redis_or_skip() -> None:
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is not there
        pytest.skip(f"needs Redis on 127.0.0.1:6379 ({exc})")


def test_django_builds_the_client_where_the_override_expects():
    """The names ProcessSharedRedisCache relies on: a Django upgrade that changes them fails here."""
    assert isinstance(RedisCache.__dict__["_cache"], cached_property)
    cache = RedisCache("redis://127.0.0.1:6379/9", {"OPTIONS": {"socket_timeout": 2}})
    assert cache._servers == ["redis://127.0.0.1:6379/9"]
    assert cache._options == {"socket_timeout": 2}
    assert cache._class is RedisCacheClient


def test_every_instance_in_a_process_uses_one_client_and_so_one_connection_pool():
    _redis_or_skip()
    prefix = f"shared-{uuid.uuid4().hex}"
    # One per greenlet, as Django makes them under gevent.
    first, second = (ProcessSharedRedisCache("redis://127.0.0.1:6379/9", {"KEY_PREFIX": prefix}) for _ in range(2))
    assert first._cache is second._cache
    first.set("k", 41)
    assert second.incr("k") == 42
    assert first.get("k") == 42
    second.delete("k")


def test_another_server_or_other_options_get_a_client_of_their_own():
    plain = ProcessSharedRedisCache("redis://127.0.0.1:6379/9", {})
    other_db = ProcessSharedRedisCache("redis://127.0.0.1:6379/8", {})
    with_options = ProcessSharedRedisCache("redis://127.0.0.1:6379/9", {"OPTIONS": {"socket_timeout": 2}})
    assert len({id(plain._cache), id(other_db._cache), id(with_options._cache)}) == 3
