"""The admin's app config: Django's admin, served by GempoolAdminSite (throttled sign-in)."""
from __future__ import annotations

from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.signals import user_login_failed


class GempoolAdminConfig(AdminConfig):
    default_site = "gempool_site.admin_site.GempoolAdminSite"

    def ready(self) -> None:
        super().ready()
        from gempool_site.login_throttle import count_failed_login

        # Every sign-in form (admin and console) fails through authenticate(), which sends this signal.
        user_login_failed.connect(count_failed_login, dispatch_uid="gempool-login-throttle")
