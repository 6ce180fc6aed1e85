"""An index in the lease query's own order, so leasing costs the same with 10 or 10,000 accounts.

The lease orders by `last_used_at NULLS FIRST, id`. PostgreSQL needs NULLS FIRST spelled out in the
index to walk it in that order, and SQLite refuses the clause (its NULLs already sort first), so the
index is created per vendor here rather than declared in Meta.
"""
from __future__ import annotations

from django.db import migrations

CREATE = {
    "postgresql": "CREATE INDEX account_lru_idx ON accounts_account (last_used_at ASC NULLS FIRST, id)",
    "sqlite": "CREATE INDEX account_lru_idx ON accounts_account (last_used_at, id)",
}


def create_index(apps, schema_editor) -> None:
    sql = CREATE.get(schema_editor.connection.vendor)
    if sql:
        schema_editor.execute(sql)


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor in CREATE:
        schema_editor.execute("DROP INDEX IF EXISTS account_lru_idx")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_request_log")]
    operations = [
        # (status, last_used_at) could not serve the lease's order; planners preferred it and sorted.
        migrations.RemoveIndex(model_name="account", name="account_lease_idx"),
        migrations.RunPython(create_index, drop_index),
    ]
