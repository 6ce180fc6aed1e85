"""manage.py pruneresponses [--days N]: delete stored Responses API answers older than the retention period."""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from openai_api.responses_api.store import stored_response_prune


class Command(BaseCommand):
    help = ("Delete stored /v1/responses answers older than GEMPOOL_RESPONSE_RETENTION_DAYS. The server also "
            "does this every GEMPOOL_HOUSEKEEPING_INTERVAL, and `housekeeping` applies every retention at once.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help=f"keep this many days (default {settings.GEMPOOL_RESPONSE_RETENTION_DAYS})")

    def handle(self, *args, days: int | None, **options) -> None:
        if days is not None and days < 0:
            raise CommandError("--days must be 0 or more.")
        deleted = stored_response_prune(days=days)
        self.stdout.write(f"Deleted {deleted} stored response(s).")
