"""manage.py firstrun : on a fresh install, create an admin user and an API key and hand them over once.

The secrets go to a file only this user can read (mode 0600) in the data dir, and the command prints its path;
they are printed as well only when stdout is a terminal. Printed secrets would otherwise end up in container
and service logs, which are kept, shipped and read by many.
"""
from __future__ import annotations

import os
import secrets
import shlex
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import ApiKey
from accounts.services import api_key_create

CREDENTIALS_FILE = "first-start-credentials.txt"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # also when an older file was there with another mode
        handle.write(text)


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
        path = Path(settings.DATA_DIR) / CREDENTIALS_FILE
        with transaction.atomic():  # no user and key whose secrets never reached the file
            User.objects.create_superuser(username=username, email="", password=password)
            _, raw = api_key_create(name="default")
            secrets_text = "\n".join([
                f"Console / admin login : {username} / {password}   ({url})",
                f"API key (for /v1)     : {raw}",
                f"Change the password with: {manage_command()} changepassword {shlex.quote(username)}",
            ])
            _write_private(path, secrets_text + "\n")
        banner = "=" * 72
        lines = [banner, "gempool first start: an admin user and an API key were created.",
                 f"  They are in {path} (readable by this user only).",
                 "  Store them elsewhere, then delete that file."]
        if self.stdout.isatty():
            lines += ["", *(f"  {line}" for line in secrets_text.splitlines())]
        self.stdout.write("\n".join([*lines, banner]))


def manage_command() -> str:
    """`manage.py` run by the interpreter running now, as a command that works from the current directory.

    A bare `python` is often another interpreter without Django (scripts/start installs into .venv), so the
    banner names this one: `.venv/bin/python manage.py` after scripts/start.
    """
    python = _from_here(sys.executable) if sys.executable else "python"
    if "/" not in python:
        python = "./" + python  # a bare name would be looked up on PATH
    return f"{shlex.quote(python)} {shlex.quote(_from_here(str(settings.BASE_DIR / 'manage.py')))}"


def _from_here(path: str) -> str:
    # abspath, not resolve(): .venv/bin/python is a symlink to a base interpreter that lacks the packages.
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith("..") else relative
