"""manage.py exportconfig [PATH] : write the configuration in the original tool's format."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.config_io import config_export_text


class Command(BaseCommand):
    help = ("Write accounts (with their cookies), models and proxy settings as business_gemini_session.json. "
            "Without PATH the JSON goes to standard output.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", nargs="?", help="file to write (mode 0600); omit for standard output")

    def handle(self, *args, path: str | None, **options) -> None:
        text = config_export_text()
        if path is None:
            self.stdout.write(text, ending="")
            return
        target = Path(path)
        try:
            # Write aside and rename, so an interrupted export never leaves a truncated file behind.
            fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except OSError as exc:
            raise CommandError(f"{path}: cannot write the file ({exc.strerror}).") from None
        self.stderr.write(f"Wrote {target} (it holds account cookies: keep it private).")
