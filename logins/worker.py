"""The refresh worker's loop: up to N browsers at once, each claiming the next due account in turn."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection

from logins import services
from logins.models import RefreshJob

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds between job-retention passes


class RefreshWorker:
    """`run_once()` refreshes every due account once (N at a time); `run_forever(stop)` keeps doing so."""

    def __init__(self, *, browsers: int | None = None, poll_seconds: float | None = None,
                 name: str | None = None) -> None:
        self.browsers = browsers or settings.GEMPOOL_REFRESH_BROWSERS
        self.poll_seconds = poll_seconds or settings.GEMPOOL_REFRESH_POLL_SECONDS
        self.name = name or services.worker_name()
        self._last_prune: float | None = None

    def run_once(self) -> list[RefreshJob]:
        """Refresh what is due now; an account is tried at most once per pass. Returns the jobs run."""
        seen: set[int] = set()
        guard = threading.Lock()
        with ThreadPoolExecutor(max_workers=self.browsers, thread_name_prefix="refresh") as slots:
            futures = [slots.submit(self._slot, seen, guard) for _ in range(self.browsers)]
            return [job for future in futures for job in future.result()]

    def run_forever(self, stop: threading.Event) -> None:
        logger.info("refresh worker started", extra={"worker": self.name, "browsers": self.browsers})
        while not stop.is_set():
            self._prune_now_and_then()
            jobs = self.run_once()
            if not jobs:
                stop.wait(self.poll_seconds)
        logger.info("refresh worker stopped", extra={"worker": self.name})

    def _slot(self, seen: set[int], guard: threading.Lock) -> list[RefreshJob]:
        """One browser's share of a pass: claim, refresh, repeat until nothing due is left."""
        jobs = []
        try:
            while True:
                with guard:
                    skip = frozenset(seen)
                profile = services.claim_next(worker=self.name, skip=skip)
                if profile is None:
                    return jobs
                with guard:
                    seen.add(profile.pk)
                jobs.append(services.refresh_profile(profile=profile, worker=self.name))
        finally:
            connection.close()  # this thread's connection; the pool thread may end here

    def _prune_now_and_then(self) -> None:
        if self._last_prune is not None and time.monotonic() - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = time.monotonic()
        deleted = services.jobs_prune()
        if deleted:
            logger.info("old refresh jobs deleted", extra={"count": deleted})
