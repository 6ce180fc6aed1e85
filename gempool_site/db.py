"""Database connection handling that settings alone cannot express."""
from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import connections


def release_connections() -> None:
    """Give back this thread's database connections before a long wait on the upstream.

    A held connection is a scarce PostgreSQL server slot, or an open SQLite file with its page cache,
    while hundreds of streams wait on the upstream. Both backends reuse closed connections (psycopg's
    pool; gempool's SQLite backend), so giving one back and taking another later is cheap. A connection
    inside a transaction is left alone: closing it would roll the transaction back.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.in_atomic_block:
            connection.close()


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
