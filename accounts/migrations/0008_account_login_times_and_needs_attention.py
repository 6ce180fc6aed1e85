"""Room for automatic re-login: when the current login was obtained and is expected to expire, and the
needs_attention status with its reason (a refresh that needs a person).

Existing accounts get no login times: when their cookies were set is not known. On SQLite, adding a
column with a default rebuilds the table, which drops the lease's partial index (it is not in the model's
Meta, see 0004), so the index is created again afterwards (and when unapplied).
"""
from __future__ import annotations

from django.db import migrations, models

READY_INDEX = {
    "postgresql": "CREATE INDEX IF NOT EXISTS account_ready_idx ON accounts_account (ready_at ASC NULLS FIRST, id) "
                  "WHERE enabled AND status IN ('active', 'cooling_down')",
    "sqlite": "CREATE INDEX IF NOT EXISTS account_ready_idx ON accounts_account (ready_at, id) "
              "WHERE enabled AND status IN ('active', 'cooling_down')",
}


def restore_ready_index(apps, schema_editor) -> None:
    statement = READY_INDEX.get(schema_editor.connection.vendor)
    if statement:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0007_proxy_change_audit_and_fixed_proxy_test_url")]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_ready_index),  # unapplying rebuilds it too
        migrations.AddField(
            model_name="account", name="attention_reason",
            field=models.CharField(blank=True, default="", max_length=500,
                                   help_text="Why a login refresh needs a person (status needs_attention)."),
        ),
        migrations.AddField(
            model_name="account", name="logged_in_at",
            field=models.DateTimeField(blank=True, null=True,
                                       help_text="When the current cookies were obtained (the last login)."),
        ),
        migrations.AddField(
            model_name="account", name="login_expires_at",
            field=models.DateTimeField(blank=True, null=True,
                                       help_text="When the current login is expected to expire."),
        ),
        migrations.AlterField(
            model_name="account", name="status",
            field=models.CharField(choices=[("active", "Active"), ("cooling_down", "Cooling down"),
                                            ("needs_login", "Needs login"), ("needs_attention", "Needs attention"),
                                            ("disabled", "Disabled")], default="active", max_length=20),
        ),
        migrations.RunPython(restore_ready_index, migrations.RunPython.noop),
    ]
