"""manage.py refreshworker: keep logins fresh by logging accounts in again before they expire."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from logins.flow_data import FlowDataInvalid
from logins.models import JobOutcome
from logins.services import flow_data
from logins.worker import RefreshWorker


class Command(BaseCommand):
    help = ("Log accounts in again (through their mailbox) when their login expires within "
            "GEMPOOL_REFRESH_WINDOW_MINUTES or is gone. Runs until stopped; --once does one pass and exits.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="refresh what is due now, then exit")
        parser.add_argument("--browsers", type=int, default=None,
                            help="browsers at once (default GEMPOOL_REFRESH_BROWSERS)")

    def handle(self, *args, once: bool = False, browsers: int | None = None, **options) -> None:
        if browsers is not None and browsers < 1:
            raise CommandError("--browsers must be at least 1")
        try:
            flow_data()
        except FlowDataInvalid as exc:
            raise CommandError(str(exc)) from None
        if not Path(settings.GEMPOOL_REFRESH_CHROMIUM).exists():
            raise CommandError(f"no Chromium at {settings.GEMPOOL_REFRESH_CHROMIUM} (GEMPOOL_REFRESH_CHROMIUM); "
                               "on Debian: apt-get install chromium")
        if not settings.GEMPOOL_REFRESH_HEADLESS and not os.environ.get("DISPLAY"):
            raise CommandError("GEMPOOL_REFRESH_HEADLESS is false but there is no display: run the worker under "
                               "Xvfb (xvfb-run -a python manage.py refreshworker)")
        worker = RefreshWorker(browsers=browsers)
        if once:
            jobs = worker.run_once()
            for job in jobs:
                line = f"account {job.account_id}: {job.outcome}"
                if job.outcome != JobOutcome.SUCCEEDED:
                    line += f" at {job.step}: {job.error}"
                self.stdout.write(line)
            self.stdout.write(f"{len(jobs)} refresh attempt(s)")
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        worker.run_forever(stop)
