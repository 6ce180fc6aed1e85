from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_save


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Account pool"

    def ready(self) -> None:
        from accounts.models import PoolSettings

        # Every write path (API, admin, import) must invalidate the per-process copies; a signal
        # is the one place none of them can forget.
        post_save.connect(_pool_settings_saved, sender=PoolSettings, dispatch_uid="pool-settings-version")


def _pool_settings_saved(sender, instance, **kwargs) -> None:
    from django.db import transaction

    from accounts.upstream import pool_settings_changed

    transaction.on_commit(pool_settings_changed)
