"""URL converters shared by every app's URLconf.

`<dbid:pk>` matches a database id: digits that fit a signed 64-bit column. Django's `<int:…>` accepts any
length, and a lookup through a foreign key with a value past the column's range fails inside the database
driver (SQLite: OverflowError) instead of finding nothing; bounding the id in the URL makes such a request a
plain 404 before any view runs.
"""
from __future__ import annotations

from django.urls import register_converter


class DatabaseIdConverter:
    regex = "[0-9]{1,18}"  # 10**18 - 1 < 2**63 - 1

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(DatabaseIdConverter, "dbid")
