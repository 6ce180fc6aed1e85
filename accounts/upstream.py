"""The Django side of the upstream client: one GeminiClient per process, JWTs shared through the cache.

Process-local objects here hold only connections; everything several workers must agree on (JWTs,
refresh locks) goes through the Django cache, which is Redis when REDIS_URL is set.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

from accounts.models import Account, PoolSettings
from gemini_enterprise.auth import CachedJwt
from gemini_enterprise.client import GeminiClient
from gemini_enterprise.spares import SpareSessions
from gemini_enterprise.types import ClientConfig, Credentials
from gempool_site import crypto, hot_rows

_client: GeminiClient | None = None
_spares: SpareSessions | None = None
_client_guard = threading.Lock()


class CacheTokenStore:
    """TokenStore over the Django cache; JWTs are encrypted there like every other secret.

    Each process keeps what it read or wrote for GEMPOOL_HOT_ROWS_SECONDS (gempool_site.hot_rows): a JWT
    another process refreshed or invalidated meanwhile is still valid upstream for minutes, and one the
    upstream refuses is invalidated by whoever meets the refusal."""

    lock_ttl = 30.0  # a crashed holder frees the refresh lock after this long

    def get(self, key: str) -> CachedJwt | None:
        return hot_rows.JWTS.get(key, lambda: self._read(key), keep_none=False)

    def put(self, key: str, jwt: CachedJwt, ttl: float) -> None:
        payload = json.dumps({"token": jwt.token, "issued_at": jwt.issued_at})
        cache.set(f"jwt:{key}", crypto.encrypt(payload), timeout=max(1, int(ttl)))
        hot_rows.JWTS.put(key, jwt)

    @staticmethod
    def _read(key: str) -> CachedJwt | None:
        stored = cache.get(f"jwt:{key}")
        if not stored:
            return None
        try:
            payload = json.loads(crypto.decrypt(stored))
        except (crypto.SecretUnreadable, ValueError):
            return None
        return CachedJwt(payload["token"], payload["issued_at"])

    @contextmanager
    def refresh_lock(self, key: str, timeout: float) -> Iterator[bool]:
        lock_key, owner = f"jwt-lock:{key}", secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        owned = cache.add(lock_key, owner, timeout=int(self.lock_ttl))
        while not owned and time.monotonic() < deadline:
            time.sleep(0.02)
            owned = cache.add(lock_key, owner, timeout=int(self.lock_ttl))
        try:
            yield owned
        finally:
            if owned and cache.get(lock_key) == owner:
                cache.delete(lock_key)


def client_config() -> ClientConfig:
    """The upstream client's configuration, from settings."""
    return ClientConfig(
        auth_url=settings.GEMPOOL_AUTH_URL,
        api_url=settings.GEMPOOL_API_URL,
        connect_timeout=settings.GEMPOOL_CONNECT_TIMEOUT,
        read_timeout=settings.GEMPOOL_READ_TIMEOUT,
        jwt_refresh_after=settings.GEMPOOL_JWT_REFRESH_AFTER,
        verify_tls=settings.GEMPOOL_VERIFY_TLS,
        language_code=settings.GEMPOOL_UPSTREAM_LANGUAGE,
        time_zone=settings.GEMPOOL_UPSTREAM_TIME_ZONE,
        pool_maxsize=settings.GEMPOOL_UPSTREAM_POOL_SIZE,
        upstream_client=settings.GEMPOOL_UPSTREAM_CLIENT,
    )


def get_client() -> GeminiClient:
    """This process's GeminiClient (its connection pools are per process by nature)."""
    global _client
    if _client is None:
        with _client_guard:
            if _client is None:
                _client = GeminiClient(client_config(), token_store=CacheTokenStore())
    return _client


def get_spare_sessions() -> SpareSessions | None:
    """This process's spare upstream sessions, or None when GEMPOOL_SPARE_SESSION_MAX_AGE is 0."""
    global _spares
    if settings.GEMPOOL_SPARE_SESSION_MAX_AGE <= 0:
        return None
    if _spares is None:
        client = get_client()
        with _client_guard:
            if _spares is None:
                _spares = SpareSessions(client.create_session, max_age=settings.GEMPOOL_SPARE_SESSION_MAX_AGE)
    return _spares


def reset_client() -> None:
    """Drop the process's client and spare sessions (tests change upstream URLs between cases)."""
    global _client, _spares
    with _client_guard:
        if _client is not None:
            _client.close()
        _client, _spares = None, None


def pool_settings_get() -> PoolSettings:
    """The pool settings row, as requests read it: kept per process for GEMPOOL_HOT_ROWS_SECONDS
    (gempool_site.hot_rows), so another process sees an edit within that time. Read-only."""
    return hot_rows.POOL_SETTINGS.get("row", PoolSettings.load)


def effective_proxy(account: Account, pool: PoolSettings) -> str | None:
    """The account's own proxy, else the pool's when enabled, else a direct connection."""
    if account.proxy_url:
        return account.proxy_url
    if pool.proxy_enabled and pool.proxy_url:
        return pool.proxy_url
    return None


def credentials_for(account: Account, pool: PoolSettings | None = None) -> Credentials:
    """The upstream client's view of an account."""
    pool = pool or pool_settings_get()
    return Credentials(
        key=f"account-{account.pk}-{account.csesidx}",
        team_id=account.team_id,
        csesidx=account.csesidx,
        secure_c_ses=account.secure_c_ses,
        host_c_oses=account.host_c_oses,
        user_agent=account.user_agent or Credentials.__dataclass_fields__["user_agent"].default,
        proxy=effective_proxy(account, pool),
    )
