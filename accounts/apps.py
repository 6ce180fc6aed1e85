from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Account pool"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from accounts.models import ApiKey, PoolSettings
        from gempool_site import hot_rows
        from gempool_site.housekeeping import housekeeping_after_request

        hot_rows.connect(hot_rows.API_KEYS, ApiKey)
        hot_rows.connect(hot_rows.POOL_SETTINGS, PoolSettings)

        # The one automatic trigger of retention (request log and media); see gempool_site/housekeeping.py.
        request_finished.connect(housekeeping_after_request, dispatch_uid="gempool-housekeeping")
