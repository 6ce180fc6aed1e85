"""Finished requests' bookkeeping, written in batches off the request path (GEMPOOL_RECORD_BATCH_SECONDS).

Each /v1 request ends with a request-log row, its attempt rows, a day's and an hour's usage, and its
account's success: five statements in a write transaction, about a seventh of a completion's CPU on SQLite
(bench/README.md, "Where the CPU goes"). A worker collects them for a quarter of a second and writes them
in one transaction (metering.records.requests_record), with one upsert per key, model and day or hour.

Only what commutes may wait: appended rows and added counts. Every failure, cooldown and lease is written
at once (accounts.pool), and so is a success that must also forget a failure streak the account's lease
saw (accounts.lifecycle.succeeded): the pool never picks an account from a stale state. A success with
nothing to forget only counts (lifecycle.successes_counted), and waits with the rows.

What a worker holds is written before it stops on a clean shutdown (gunicorn's worker_exit hook: SIGTERM,
SIGINT, a restart, max-requests) and at interpreter exit. A worker that is killed (SIGKILL, out of memory)
loses at most its last interval's rows and counts; never an answer, a lease or an account's state. Prometheus
metrics are counted as each request ends, not here.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import lifecycle
from accounts import pool as account_pool
from accounts.models import Account
from gempool_site.db import release_connections
from metering.records import RequestRecord, requests_record

logger = logging.getLogger(__name__)

MAX_PENDING = 20_000  # rows kept while the database refuses writes; past that the oldest go (and are logged)


@dataclass(frozen=True)
class _Finished:
    record: RequestRecord
    at: datetime
    counted_success: int | None  # the account whose answer is counted with the batch


class RecordWriter:
    """One process's pending bookkeeping and the thread that writes it every `interval` seconds."""

    def __init__(self, *, interval: float) -> None:
        self.interval = interval
        self._pending: list[_Finished] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one batch at a time: the thread's and close()'s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, record: RequestRecord, *, counted_success: int | None, at: datetime) -> None:
        with self._lock:
            self._pending.append(_Finished(record, at, counted_success))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="record-writer", daemon=True)
                self._thread.start()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Write what is pending now; returns how many requests were written. On a database error the
        batch stays pending for the next try."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                _write(batch)
            except Exception:  # noqa: BLE001 - a locked or unreachable database: keep the rows, try again
                logger.exception("could not write request bookkeeping; retrying", extra={"requests": len(batch)})
                self._keep(batch)
                return 0
            finally:
                release_connections()
            return len(batch)

    def close(self) -> None:
        """Stop the thread and write what is left (a clean shutdown)."""
        with self._lock:
            stop, thread = self._stop, self._thread
            self._stop, self._thread = threading.Event(), None  # a later add() starts a new thread
        stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.interval + 5)
        self.flush()

    def _keep(self, batch: list[_Finished]) -> None:
        with self._lock:
            self._pending[:0] = batch
            dropped = len(self._pending) - MAX_PENDING
            if dropped > 0:
                del self._pending[:dropped]
                logger.error("request bookkeeping dropped", extra={"requests": dropped})

    def _run(self) -> None:
        stop = self._stop
        while not stop.wait(self.interval):
            self.flush()


def _write(batch: list[_Finished]) -> None:
    successes: dict[int, int] = {}
    for item in batch:
        if item.counted_success is not None:
            successes[item.counted_success] = successes.get(item.counted_success, 0) + 1
    with transaction.atomic():
        requests_record([(item.record, item.at) for item in batch])
        for account_id, count in successes.items():
            lifecycle.apply(account_id, lifecycle.successes_counted(count))


_writer: RecordWriter | None = None
_writer_pid = 0
_writer_lock = threading.Lock()


def _process_writer() -> RecordWriter:
    global _writer, _writer_pid
    interval = settings.GEMPOOL_RECORD_BATCH_SECONDS
    with _writer_lock:
        if _writer is not None and _writer_pid == os.getpid() and _writer.interval != interval:
            _writer.close()  # the setting changed (tests do): write what the old one holds, then replace it
            _writer = None
        if _writer is None or _writer_pid != os.getpid():  # a forked child starts with nothing pending
            _writer, _writer_pid = RecordWriter(interval=interval), os.getpid()
        return _writer


def request_finished(record: RequestRecord, *, answered_by: Account | None) -> None:
    """Record a finished request and, if an account answered it, that account's success: batched when
    GEMPOOL_RECORD_BATCH_SECONDS > 0 and nothing needs writing at once, else now in one transaction."""
    now = timezone.now()
    streaks = answered_by is not None and bool(answered_by.consecutive_failures or answered_by.cooldown_streak)
    if settings.GEMPOOL_RECORD_BATCH_SECONDS > 0 and not streaks:
        _process_writer().add(record, counted_success=answered_by.pk if answered_by else None, at=now)
        return
    with transaction.atomic():
        if answered_by is not None:
            account_pool.report_success(account=answered_by)
        requests_record([(record, now)])


def flush_pending() -> int:
    """Write this process's pending bookkeeping now (tests, and whoever must read it back at once)."""
    return _writer.flush() if _writer is not None and _writer_pid == os.getpid() else 0


def close() -> None:
    """Write what this process holds and stop its writer: gunicorn's worker_exit, and interpreter exit."""
    if _writer is not None and _writer_pid == os.getpid():
        _writer.close()


atexit.register(close)
