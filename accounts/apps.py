from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Account pool"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from gempool_site.housekeeping import housekeeping_after_request

        # The one automatic trigger of retention (request log and media); see gempool_site/housekeeping.py.
        request_finished.connect(housekeeping_after_request, dispatch_uid="gempool-housekeeping")
