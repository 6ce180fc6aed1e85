from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Account pool"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from accounts.dashboard import request_finished_prune

        # Retention rides on the requests that write the log (request_log_add arms the check), so no cron
        # job is needed (prunelogs exists for one); the DELETE runs after the response, outside the
        # request's query budget.
        request_finished.connect(request_finished_prune, dispatch_uid="request-log-retention")
