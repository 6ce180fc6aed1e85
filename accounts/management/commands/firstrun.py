"""manage.py firstrun : on a fresh install, create an admin user and an API key and print them once."""
from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import ApiKey
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create the first admin user and API key when neither exists yet (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists() or ApiKey.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        url = "http://" + os.environ.get("GEMPOOL_BIND", "127.0.0.1:8000") + "/"
        User.objects.create_superuser(username=username, email="", password=password)
        _, raw = api_key_create(name="default")
        banner = "=" * 72
        self.stdout.write("\n".join([
            banner,
            "gempool first start: these are shown once. Store them now.",
            f"  Console / admin login : {username} / {password}   ({url})",
            f"  API key (for /v1)     : {raw}",
            "  Change the password with: python manage.py changepassword " + username,
            banner,
        ]))
