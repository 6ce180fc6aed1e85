"""A Django cache in one SQLite file that every gateway process on the host shares (when there is no Redis).

Rate limits, the JWT cache, the single-flight locks and the housekeeping turn are kept in the Django cache
so that processes agree. With several gunicorn workers and no REDIS_URL, Django's local-memory cache would
give each worker its own: a per-key limit of 60 a minute would let 60 through each worker, and every
worker would mint its own JWTs. This backend keeps the same entries in `cache.sqlite3` in the data dir.
`add` is one upsert and `incr` one IMMEDIATE transaction, so both are atomic across processes, as on Redis.
The file is a cache: it may be deleted while the gateway is stopped, and nothing in it must survive a crash
(hence no fsync).

Django makes a cache backend per thread, which under gevent means per greenlet: one for each client
connection, and one for each request that Django handles on a greenlet of its own (gempool_site/fresh_stack.py).
The open file is therefore kept per process, shared by every instance for the same path.
"""
from __future__ import annotations

import os
import pickle
import sqlite3
import threading
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

SCHEMA = "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)"
PURGE_EVERY = 1000  # writes between deletions of expired entries


class _CacheFile:
    """The process's one connection to a cache file, used under a lock (greenlets and threads alike); each
    statement is short, so they never wait on each other for long."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.pid = 0
        self.writes = 0

    def connection(self) -> sqlite3.Connection:
        # A process forked after first use (gunicorn workers) opens its own: a SQLite connection must not
        # cross a fork.
        if self.conn is None or self.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(SCHEMA)
            self.conn, self.pid = conn, os.getpid()
        return self.conn


_files: dict[str, _CacheFile] = {}
_files_lock = threading.Lock()


def _cache_file(path: str) -> _CacheFile:
    with _files_lock:
        found = _files.get(path)
        if found is None:
            found = _files[path] = _CacheFile(path)
        return found


class SQLiteCache(BaseCache):
    """LOCATION is the SQLite file's path; every instance for it in a process shares one connection."""

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._file = _cache_file(location)

    # ---- Django's cache API -------------------------------------------------------------------------

    def add(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        # Inserted, or replaced an expired entry: ours. A live entry stays and the upsert changes nothing.
        changed = self._write(
            "INSERT INTO cache (key, value, expires) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
            "value = excluded.value, expires = excluded.expires "
            "WHERE cache.expires IS NOT NULL AND cache.expires <= ?",
            (key, _dump(value), self._expires(timeout), time.time()))
        return changed > 0

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        row = self._read("SELECT value, expires FROM cache WHERE key = ?", (key,))
        if row is None or _expired(row[1]):
            return default
        return pickle.loads(row[0])  # noqa: S301 - our own file, written only by this backend

    def set(self, key: str, value: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        self._write("INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?, ?, ?)",
                    (key, _dump(value), self._expires(timeout)))

    def touch(self, key: str, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._write("UPDATE cache SET expires = ? WHERE key = ? AND (expires IS NULL OR expires > ?)",
                           (self._expires(timeout), key, time.time())) > 0

    def delete(self, key: str, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._write("DELETE FROM cache WHERE key = ? AND (expires IS NULL OR expires > ?)",
                           (key, time.time())) > 0

    def has_key(self, key: str, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        row = self._read("SELECT expires FROM cache WHERE key = ?", (key,))
        return row is not None and not _expired(row[0])

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        with self._file.lock:
            conn = self._file.connection()
            conn.execute("BEGIN IMMEDIATE")  # the read and the write below as one step for every process
            try:
                row = conn.execute("SELECT value, expires FROM cache WHERE key = ?", (key,)).fetchone()
                if row is None or _expired(row[1]):
                    raise ValueError(f"Key '{key}' not found")
                value = pickle.loads(row[0]) + delta  # noqa: S301 - our own file
                conn.execute("UPDATE cache SET value = ? WHERE key = ?", (_dump(value), key))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return value

    def clear(self) -> None:
        self._write("DELETE FROM cache", ())

    def close(self, **kwargs: Any) -> None:
        """Kept open between requests (Django calls this at the end of each): one file, one connection."""

    # ---- the file ---------------------------------------------------------------------------------------

    def _expires(self, timeout: float | None) -> float | None:
        return self.get_backend_timeout(timeout)  # an absolute time, or None for "never"

    def _read(self, sql: str, params: tuple) -> tuple | None:
        with self._file.lock:
            return self._file.connection().execute(sql, params).fetchone()

    def _write(self, sql: str, params: tuple) -> int:
        with self._file.lock:
            conn = self._file.connection()
            changed = conn.execute(sql, params).rowcount
            self._file.writes += 1
            if self._file.writes % PURGE_EVERY == 0:
                conn.execute("DELETE FROM cache WHERE expires IS NOT NULL AND expires <= ?", (time.time(),))
            return changed


def _dump(value: Any) -> bytes:
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _expired(expires: float | None) -> bool:
    return expires is not None and expires <= time.time()
