from __future__ import annotations

from django.apps import AppConfig


class LoginsConfig(AppConfig):
    name = "logins"
    verbose_name = "Logins (automatic re-login)"
