"""Database connection tuning that settings alone cannot express."""
from __future__ import annotations

import sqlite3

from django.db import connections


def tune_sqlite_connection(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: no WAL checkpoint (with fsync) each time a connection closes.

    Chat threads open and close connections all the time; checkpointing on every close cost about 2 ms
    (up to 15 ms on a busy disk) per request. SQLite still checkpoints automatically as the WAL grows.
    """
    if connection.vendor == "sqlite" and hasattr(connection.connection, "setconfig"):
        connection.connection.setconfig(sqlite3.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, True)


def release_connections() -> None:
    """Give back this thread's database connections before a long wait on the upstream.

    On PostgreSQL a held connection is a scarce server slot (hundreds of streams share a small pool);
    a SQLite connection costs nothing while idle and a lot to reopen, so it is kept.
    """
    for connection in connections.all(initialized_only=True):
        if connection.vendor != "sqlite":
            connection.close()
