"""`manage.py prunemedia`: remove generated media (and inline-upload copies) past the retention."""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from files_app.media import media_prune, media_prune_orphans


class Command(BaseCommand):
    help = ("Delete generated media and inline uploads older than GEMPOOL_MEDIA_RETENTION_HOURS (or the given "
            "age). `manage.py housekeeping` does this and the request log's retention together.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than-hours", type=float, default=None,
                            help=f"Override the retention (default {settings.GEMPOOL_MEDIA_RETENTION_HOURS} h).")
        parser.add_argument("--orphans", action="store_true",
                            help="Also remove files on disk that no database row refers to (scans the folders).")

    def handle(self, *args, older_than_hours: float | None, orphans: bool, **options) -> None:
        if older_than_hours is not None and older_than_hours < 0:
            self.stderr.write("--older-than-hours must not be negative")
            raise SystemExit(2)
        removed = media_prune(older_than_hours=older_than_hours)
        self.stdout.write(f"Removed {removed} expired file(s).")
        if orphans:
            self.stdout.write(f"Removed {media_prune_orphans()} orphaned file(s).")
