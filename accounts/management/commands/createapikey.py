"""manage.py createapikey NAME : create an API key and print it once, as the last line."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for /v1 (and /api with --admin). The key is printed once and never stored."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="who or what the key is for")
        parser.add_argument("--admin", action="store_true", help="the key may also call the management API")
        parser.add_argument("--rate-limit", type=int, default=None, metavar="N",
                            help="requests per minute for this key (default: GEMPOOL_RATE_LIMIT_PER_MINUTE)")

    def handle(self, *args, name: str, admin: bool, rate_limit: int | None, **options) -> None:
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("NAME must be 1-100 characters.")
        if rate_limit is not None and rate_limit < 0:
            raise CommandError("--rate-limit must be 0 or more.")
        api_key, raw = api_key_create(name=name, is_admin=admin, rate_limit_per_minute=rate_limit)
        self.stderr.write(f"Created API key {api_key.prefix}… for {name!r}. It is shown only now:")
        self.stdout.write(raw)
