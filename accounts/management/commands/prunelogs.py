"""manage.py prunelogs [--days N]: delete request-log rows older than the retention period."""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.dashboard import request_log_prune


class Command(BaseCommand):
    help = ("Delete request-log rows (the dashboard's data) older than GEMPOOL_REQUEST_LOG_RETENTION_DAYS. "
            "`manage.py housekeeping` does this and the media retention together (as the server does itself).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help=f"keep this many days (default {settings.GEMPOOL_REQUEST_LOG_RETENTION_DAYS})")

    def handle(self, *args, days: int | None, **options) -> None:
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = request_log_prune(days=days)
        self.stdout.write(f"Deleted {deleted} request-log row(s).")
