"""Rows that every /v1 request reads (its API key, its model, the pool settings, the account's JWT), kept in
this process for GEMPOOL_HOT_ROWS_SECONDS.

On SQLite those three indexed reads were about a seventh of a completion's CPU (bench/README.md, "Where the
CPU goes"): with other connections writing, each read starts on a stale page cache; a JWT is read from
the shared cache and decrypted twice per completion, a SQLite read too with several workers. A save or delete of
one of these models in this process drops its table's entries at once (signals, connected by the apps);
other worker processes and instances see an edit within the TTL, a second by default. 0 reads every time.

The instances are shared by every request of the process until they expire: read them, never change them
(api_key_verify's last-used stamp is the one exception, and it is per process by design).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from django.conf import settings
from django.db import transaction

MAX_ENTRIES = 4096  # a flood of distinct names or keys must not grow a worker without bound


class HotRows[V]:
    """One table's hot rows by lookup key, each kept for GEMPOOL_HOT_ROWS_SECONDS after it was read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._generation = 0  # bumped by clear(): a read that started before a clear must not be kept
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], V], *, keep_none: bool = True) -> V:
        """The entry for `key`, or `load()` kept for the TTL (a None only when `keep_none`)."""
        ttl = settings.GEMPOOL_HOT_ROWS_SECONDS
        if ttl <= 0:
            return load()
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        generation = self._generation
        value = load()
        if value is None and not keep_none:
            return value
        with self._lock:
            if generation == self._generation:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now + ttl, value)
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Keep `value` for `key` now (this process just wrote it where the others read it)."""
        ttl = settings.GEMPOOL_HOT_ROWS_SECONDS
        if ttl > 0:
            with self._lock:
                self._entries[key] = (time.monotonic() + ttl, value)

    def clear(self, **_signal_kwargs) -> None:
        """Forget every entry (a row of the table changed); usable as a signal receiver. Inside a transaction
        it clears again when that commits: a request reading meanwhile still sees, and would keep, the old row."""
        self.forget()
        transaction.on_commit(self.forget)

    def forget(self) -> None:
        """Forget every entry now (no transaction to wait for)."""
        with self._lock:
            self._generation += 1
            self._entries.clear()


API_KEYS: HotRows = HotRows("api keys")  # by key hash: live keys only (a miss is not kept)
MODELS: HotRows = HotRows("models")  # by the name a client sent: the enabled model, or None
POOL_SETTINGS: HotRows = HotRows("pool settings")  # one entry
JWTS: HotRows = HotRows("jwts")  # by account: the shared cache's JWT, decrypted (accounts.upstream.CacheTokenStore)


def connect(receiver: HotRows, *models: type) -> None:
    """Clear `receiver` whenever a row of one of `models` is saved or deleted in this process."""
    from django.db.models.signals import post_delete, post_save

    for model in models:
        for signal in (post_save, post_delete):
            signal.connect(receiver.clear, sender=model, weak=False,
                           dispatch_uid=f"hot-rows-{receiver.name}-{model._meta.label}-{id(signal)}")


def clear_all() -> None:
    """Forget everything (tests, and bulk changes that send no signals: imports, queryset updates)."""
    for rows in (API_KEYS, MODELS, POOL_SETTINGS, JWTS):
        rows.forget()
