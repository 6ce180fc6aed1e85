"""Fixed SQL for the handful of queries every chat completion runs, with the ORM's own row conversion.

Building and compiling an ORM query costs 0.2-0.9 ms of CPU, several times what SQLite or PostgreSQL
take to run these indexed one-row statements, and a completion runs about eight of them (key, model,
pool settings, lease, outcome, request log). `ModelRows` runs hand-written SQL through Django's cursor
and turns rows into model instances with the converters the ORM would apply, so callers get exactly
the objects a queryset would have returned. Everything off the hot path stays on the ORM.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model


class ModelRows[M: Model]:
    """Reads whole rows of one model with plain SQL and builds instances as the ORM does."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self.table = model._meta.db_table
        self.columns = ", ".join(f.column for f in self.fields)
        self._converters: dict[str, list[tuple[int, list, Any]]] = {}

    def fetch_one(self, where: str, params: Sequence[Any] = (), *, tail: str = "",
                  using: str = "default") -> M | None:
        """The first row matching `where` (SQL with %s placeholders), or None; `tail` adds ORDER BY etc."""
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.select(where, tail), params)
            row = cursor.fetchone()
        return None if row is None else self.build(row, connection)

    def fetch_all(self, where: str, params: Sequence[Any] = (), *, tail: str = "",
                  using: str = "default") -> list[M]:
        """Every row matching `where`, as instances."""
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.select(where, tail), params)
            rows = cursor.fetchall()
        return [self.build(row, connection) for row in rows]

    def exists(self, where: str, params: Sequence[Any] = (), *, using: str = "default") -> bool:
        """Whether any row matches `where`."""
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {self.table} WHERE {where} LIMIT 1", params)
            return cursor.fetchone() is not None

    def select(self, where: str, tail: str = "") -> str:
        """SELECT of every concrete column, in field order, as build() expects them."""
        return f"SELECT {self.columns} FROM {self.table} WHERE {where} {tail}".rstrip()

    def qualified_columns(self, alias: str) -> str:
        """Every concrete column, in field order, prefixed with a table alias (for joins and RETURNING)."""
        return ", ".join(f"{alias}.{f.column}" for f in self.fields)

    def build(self, row: Sequence[Any], connection: BaseDatabaseWrapper) -> M:
        """An instance from a row of all concrete columns, in field order."""
        values = list(row)
        for index, converters, expression in self._converters_for(connection):
            value = values[index]
            for converter in converters:
                value = converter(value, expression, connection)
            values[index] = value
        return self.model.from_db(connection.alias, self.attnames, values)

    def _converters_for(self, connection: BaseDatabaseWrapper) -> list[tuple[int, list, Any]]:
        cached = self._converters.get(connection.alias)
        if cached is None:
            cached = []
            for index, field in enumerate(self.fields):
                expression = field.get_col(self.table)
                converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
                if converters:
                    cached.append((index, converters, expression))
            self._converters[connection.alias] = cached
        return cached


def db_datetime(value: datetime | None, using: str = "default") -> Any:
    """A datetime as this database stores it (SQLite keeps naive UTC text), for a raw SQL parameter."""
    return connections[using].ops.adapt_datetimefield_value(value)


def execute(sql: str, params: Sequence[Any] = (), *, using: str = "default") -> int:
    """Run one write statement; returns the number of rows it changed."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def fetch_value(sql: str, params: Sequence[Any] = (), *, using: str = "default") -> Any:
    """Run one statement that returns a single value (a SELECT, or a write with RETURNING) and return it."""
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]
