from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Account pool"

    def ready(self) -> None:
        from django.core.signals import request_finished
        from django.db.models.signals import post_save

        from accounts.dashboard import request_finished_prune, request_log_saved
        from accounts.models import RequestLog

        # Retention rides on the requests that write the log, so no cron job is needed (prunelogs exists
        # for one); the DELETE itself runs after the response, outside the request's query budget.
        post_save.connect(request_log_saved, sender=RequestLog, dispatch_uid="request-log-retention")
        request_finished.connect(request_finished_prune, dispatch_uid="request-log-retention")
