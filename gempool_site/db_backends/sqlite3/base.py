"""Django's SQLite backend with a per-process pool of open connections and memoised placeholder conversion.

Opening a SQLite connection costs about a millisecond (the file, its schema, ~30 Python functions that
Django registers, the PRAGMAs), and gempool opens one per request and per chat worker: under gevent every
request is a new greenlet with connections of its own. Here closing a connection hands it back to a
process-wide idle list and the next "connect" takes it from there, so a request pays for a connection
only while it holds one, and `release_connections()` can give SQLite connections back before a long
upstream wait as cheaply as PostgreSQL ones (psycopg's pool). `write_transaction()` runs one short write on
an idle connection directly, without this thread's Django connection (the lease, on every request).

Under gevent, a transaction waits for SQLite's write lock cooperatively (`_take_write_lock`):
SQLite's own busy handler sleeps inside C (1, 2, 5, 10 ms ...), and with several worker processes on one file
that would freeze every stream of the waiting worker while another worker holds the lock.

Django internals this relies on, pinned by tests/gempool_site/test_db_backends.py so a Django upgrade that
moves one fails there by name: `DatabaseWrapper._close()` (what `close()` calls to drop the connection),
`DatabaseWrapper._start_transaction_under_autocommit()` (what `atomic()` calls to run BEGIN),
`SQLiteCursorWrapper.convert_query(query, *, param_names=None)` and `FORMAT_QMARK_REGEX`, and
`DatabaseCreation._destroy_test_db(test_database_name, verbosity)`.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator

from django.db import OperationalError, transaction
from django.db.backends.sqlite3 import base as sqlite3_base
from django.db.backends.sqlite3.creation import DatabaseCreation as SQLiteDatabaseCreation
from django.db.backends.utils import CursorDebugWrapper

from gempool_site.event_loop import under_gevent

logger = logging.getLogger(__name__)

IDLE_MAX = 128  # idle connections kept per database file; a burst beyond that closes its extras
BUSY_TIMEOUT_MS = 30_000  # as the PRAGMA in gempool_site.env.sqlite_database sets it
LOCK_POLL = (0.0002, 0.005)  # first and longest pause between tries for the write lock, seconds


class IdleConnections:
    """Open sqlite3 connections to one database file that nobody is using, last in first out."""

    def __init__(self) -> None:
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite3.Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def give(self, conn: sqlite3.Connection) -> bool:
        """Keep `conn` for reuse; False (caller closes it) when enough are idle already."""
        with self._lock:
            if len(self._idle) >= IDLE_MAX:
                return False
            self._idle.append(conn)
            return True

    def drain(self) -> list[sqlite3.Connection]:
        with self._lock:
            drained, self._idle = self._idle, []
        return drained


_pools: dict[str, IdleConnections] = {}
_pools_lock = threading.Lock()
_inherited: list[sqlite3.Connection] = []


def idle_connections(name: str) -> IdleConnections:
    """The idle list for one database file (created on first use)."""
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = IdleConnections()
        return pool


def close_idle(name: str) -> None:
    """Close every idle connection to `name` (before the file is deleted, e.g. a test database)."""
    for conn in idle_connections(name).drain():
        conn.close()


def _forget_after_fork() -> None:
    # A SQLite connection must never be used (or even closed) in a forked child: closing would drop the
    # parent's POSIX locks on the file. Keep the objects referenced so the garbage collector leaves them.
    for pool in _pools.values():
        _inherited.extend(pool.drain())


os.register_at_fork(after_in_child=_forget_after_fork)


@functools.lru_cache(maxsize=1024)
def _qmark_query(query: str) -> str:
    # Django's conversion runs a regex through a lazy proxy on every execute: ~0.1 ms for each of the
    # handful of fixed statements a completion runs. The result depends on the text alone.
    return sqlite3_base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class CursorWrapper(sqlite3_base.SQLiteCursorWrapper):
    """Django's cursor, with the "format" to "qmark" placeholder conversion memoised per SQL text."""

    def convert_query(self, query, *, param_names=None):
        if param_names is None:
            return _qmark_query(query)
        return super().convert_query(query, param_names=param_names)


class DatabaseCreation(SQLiteDatabaseCreation):
    def _destroy_test_db(self, test_database_name, verbosity):
        close_idle(test_database_name)
        return super()._destroy_test_db(test_database_name, verbosity)


def _take_write_lock(conn: sqlite3.Connection, begin: Callable[[], object]) -> None:
    """Run `begin` (a BEGIN that takes the write lock). Under gevent it runs without SQLite's busy handler, and
    waits between tries with a sleep that lets the worker's other greenlets run, within the same 30 s bound as
    the busy timeout; elsewhere the busy handler does the waiting."""
    if not under_gevent():  # only there would a sleep inside C stop every other greenlet
        begin()
        return
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = LOCK_POLL[0]
        while True:
            try:
                begin()
                return
            except (sqlite3.OperationalError, OperationalError) as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, LOCK_POLL[1])
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


class DatabaseWrapper(sqlite3_base.DatabaseWrapper):
    creation_class = DatabaseCreation
    # Whether this wrapper turned its connection's foreign key checks off (migrations and loaddata do,
    # briefly, through disable_constraint_checking): a connection goes back to the idle list with them on.
    # Setting the flag, even to its current value, expires every statement the connection has prepared, and
    # reading it costs a statement per borrow: both only where Django turned the checks off.
    _foreign_keys_off = False

    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)

    def get_new_connection(self, conn_params):
        if not self.is_in_memory_db():
            conn = idle_connections(self.settings_dict["NAME"]).take()
            if conn is not None:
                return conn
        conn = super().get_new_connection(conn_params)
        if hasattr(conn, "setconfig"):
            # No WAL checkpoint (with an fsync) whenever a connection closes; SQLite still checkpoints
            # automatically as the WAL grows.
            conn.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)
        return conn

    def disable_constraint_checking(self):
        self._foreign_keys_off = super().disable_constraint_checking()
        return self._foreign_keys_off

    def enable_constraint_checking(self):
        super().enable_constraint_checking()
        self._foreign_keys_off = False

    def _start_transaction_under_autocommit(self):
        _take_write_lock(self.connection, super()._start_transaction_under_autocommit)

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[CursorWrapper | CursorDebugWrapper]:
        """A cursor (Django's %s placeholders) inside BEGIN IMMEDIATE ... COMMIT, for one short write on a
        request's path; rolled back if the block raises.

        Outside any atomic block it runs on a connection taken straight from the idle list and given back at
        once, and this thread's own connection is never opened. Django's bracket around a transaction (the
        per-thread connection's setup, the autocommit switches, the savepoint bookkeeping) costs more CPU
        than the lease's two indexed statements: a lease took about 200 us, its SQL alone 93 us, and this
        way about 155 us (bench/README.md). Inside an
        atomic block (a caller's transaction, a test's) or on an in-memory database it is atomic() on this
        thread's connection, so the statements see what that transaction has written.
        """
        if self.in_atomic_block or self.is_in_memory_db():
            with transaction.atomic(using=self.alias), self.cursor() as cursor:
                yield cursor
            return
        idle = idle_connections(self.settings_dict["NAME"])
        conn = idle.take()
        if conn is None:
            conn = self.get_new_connection(self.get_connection_params())
            conn.isolation_level = None  # autocommit, as Django keeps the connections it hands back
        try:
            with self.wrap_database_errors:
                _take_write_lock(conn, lambda: conn.execute("BEGIN IMMEDIATE"))
            cursor = conn.cursor(factory=CursorWrapper)
            if self.queries_logged:  # DEBUG, or a test counting queries: logged as Django's own cursors log
                cursor = self.make_debug_cursor(cursor)
            try:
                with self.wrap_database_errors:
                    yield cursor
                    conn.commit()
            finally:
                cursor.close()
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            conn.close()  # whatever went wrong, the next borrower gets a connection known to be clean
            raise
        if not idle.give(conn):
            conn.close()

    def _close(self):
        conn = self.connection
        checks_off, self._foreign_keys_off = self._foreign_keys_off, False
        if conn is None or self.is_in_memory_db() or self.in_atomic_block:
            return super()._close()
        try:
            if conn.in_transaction:
                conn.rollback()  # whatever was left open must not leak into the next borrower
            if checks_off:
                conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            logger.warning("discarding a SQLite connection that could not be reset", exc_info=True)
            return super()._close()
        if not idle_connections(self.settings_dict["NAME"]).give(conn):
            return super()._close()
        return None
