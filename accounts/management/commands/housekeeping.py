"""manage.py housekeeping [--orphans]: the request log's and generated media's retention, for cron."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from files_app.services import media_prune_orphans
from gempool_site.housekeeping import housekeeping_run


class Command(BaseCommand):
    help = ("Delete request-log rows older than GEMPOOL_REQUEST_LOG_RETENTION_DAYS, hourly usage rows older than "
            "GEMPOOL_USAGE_HOUR_RETENTION_DAYS, generated media (and inline-upload copies) older than "
            "GEMPOOL_MEDIA_RETENTION_HOURS and stored responses older than GEMPOOL_RESPONSE_RETENTION_DAYS. "
            "The server also does this itself "
            "every GEMPOOL_HOUSEKEEPING_INTERVAL seconds unless that is 0; this is for cron or a one-off run.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--orphans", action="store_true",
                            help="also remove media files no database row refers to (scans the folders)")

    def handle(self, *args, orphans: bool, **options) -> None:
        self.stdout.write(housekeeping_run().as_text())
        if orphans:
            self.stdout.write(f"Removed {media_prune_orphans()} orphaned file(s).")
