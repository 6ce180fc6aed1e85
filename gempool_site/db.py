"""Database connection handling that settings alone cannot express."""
from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import connections

from gempool_site.event_loop import under_gevent


def release_connections() -> None:
    """Give back this thread's database connections before a long wait on the upstream.

    A held connection is a scarce PostgreSQL server slot, or an open SQLite file with its page cache,
    while hundreds of streams wait on the upstream. Both backends reuse closed connections (psycopg's
    pool; gempool's SQLite backend), so giving one back and taking another later is cheap. A connection
    inside a transaction is left alone: closing it would roll the transaction back.

    Under gevent each greenlet (each client connection) has Django connection objects of its own, about
    3 KiB, that a stream would keep for its whole life: they are dropped too, and the next query of the
    greenlet builds new ones (about 5 us). Pool threads (gthread) keep theirs for the requests they serve next.
    """
    drop = under_gevent()
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            continue
        if connection.connection is not None:
            connection.close()
        if drop:
            del connections[connection.alias]


def releases_connections[**P, R](func: Callable[P, R]) -> Callable[P, R]:
    """Decorate a piece of database work that a long upstream wait follows: however it ends, this thread's
    connections go back (release_connections) before the caller moves on, so no call site can forget it."""

    @functools.wraps(func)
    def database_work(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            release_connections()

    return database_work
