"""manage.py importconfig PATH|- : import the original tool's business_gemini_session.json."""
from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from accounts.config_io import ConfigInvalid, config_import, config_parse_bytes


class Command(BaseCommand):
    help = ("Import accounts, models and proxy settings from a business_gemini_session.json file "
            "('-' reads standard input). Everything is validated first and written in one transaction.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="the config file, or - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")

    def handle(self, *args, path: str, dry_run: bool, **options) -> None:
        raw = self._read(path)
        try:
            summary = config_import(config=config_parse_bytes(raw), dry_run=dry_run)
        except ConfigInvalid as exc:
            problems = "\n".join(f"  - {problem}" for problem in exc.problems)
            raise CommandError(f"{path}: the config is invalid; nothing was changed.\n{problems}") from None
        self.stdout.write(summary.as_text())

    def _read(self, path: str) -> bytes:
        from django.conf import settings

        limit = settings.GEMPOOL_IMPORT_MAX_BYTES
        try:
            if path == "-":
                return sys.stdin.buffer.read(limit + 1)
            with open(path, "rb") as handle:
                return handle.read(limit + 1)
        except OSError as exc:
            raise CommandError(f"{path}: cannot read the file ({exc.strerror}).") from None
