"""Lease order by `ready_at`, in a partial index of the leasable accounts, so a lease reads one index entry.

With the order on last_used_at, accounts that are never leased (needing a login) or resting long (cooling
down) sank to the front of the order, and every lease stepped over all of them: with 10 % of 10,000 accounts
resting, a lease cost eight times as much. `ready_at` is when an account last served or, while it rests, when
its rest ends; the partial index holds only enabled, leasable accounts. Its first entry is due whenever any
account is. The index is per vendor: PostgreSQL needs NULLS FIRST spelled out, SQLite refuses it.
"""
from __future__ import annotations

from django.db import migrations, models
from django.db.models import Case, F, When

CREATE = {
    "postgresql": "CREATE INDEX account_ready_idx ON accounts_account (ready_at ASC NULLS FIRST, id) "
                  "WHERE enabled AND status IN ('active', 'cooling_down')",
    "sqlite": "CREATE INDEX account_ready_idx ON accounts_account (ready_at, id) "
              "WHERE enabled AND status IN ('active', 'cooling_down')",
}
OLD_INDEX = {
    "postgresql": "CREATE INDEX account_lru_idx ON accounts_account (last_used_at ASC NULLS FIRST, id)",
    "sqlite": "CREATE INDEX account_lru_idx ON accounts_account (last_used_at, id)",
}


def backfill_and_index(apps, schema_editor) -> None:
    Account = apps.get_model("accounts", "Account")
    Account.objects.update(ready_at=Case(
        When(status="cooling_down", cooldown_until__isnull=False, then=F("cooldown_until")),
        default=F("last_used_at")))
    vendor = schema_editor.connection.vendor
    if vendor in CREATE:
        schema_editor.execute("DROP INDEX IF EXISTS account_lru_idx")
        schema_editor.execute(CREATE[vendor])


def unindex(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor in CREATE:
        schema_editor.execute("DROP INDEX IF EXISTS account_ready_idx")
        schema_editor.execute(OLD_INDEX[vendor])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_account_lru_index")]
    operations = [
        migrations.AddField(model_name="account", name="ready_at",
                            field=models.DateTimeField(blank=True, editable=False, null=True)),
        migrations.RunPython(backfill_and_index, unindex),
    ]
