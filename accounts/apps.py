from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Account pool"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from accounts.dashboard import request_log_saved
        from accounts.models import RequestLog

        # Retention rides on the writes themselves, so no cron job is needed (prunelogs exists for one).
        post_save.connect(request_log_saved, sender=RequestLog, dispatch_uid="request-log-retention")
