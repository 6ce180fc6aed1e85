"""Housekeeping: the retention of the request log, the hourly usage rollup, generated media and stored
responses, run from one place.

`manage.py housekeeping` runs it for cron. Unless GEMPOOL_HOUSEKEEPING_INTERVAL is 0, the server also runs it
itself: after a response has gone out (Django's request_finished), at most once per interval across every
process (a cache key, shared through Redis when configured), with bounded media work, never by scanning
folders. A process looks at the cache at most once per interval too, so the other requests pay one clock read.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from accounts.dashboard import request_log_prune
from files_app.services import media_prune
from metering.series import usage_hour_prune
from openai_api.responses_api.store import stored_response_prune

logger = logging.getLogger(__name__)

DUE_KEY = "gempool:housekeeping-due"
MEDIA_LIMIT_PER_AUTOMATIC_RUN = 2000  # bounded work for the request that happens to run it


@dataclass(frozen=True)
class HousekeepingReport:
    request_log_rows: int
    usage_hours: int
    media_files: int
    stored_responses: int

    def as_text(self) -> str:
        return (f"Deleted {self.request_log_rows} request-log row(s), {self.usage_hours} hourly usage row(s), "
                f"{self.media_files} expired media file(s) and {self.stored_responses} stored response(s).")


def housekeeping_run(*, media_limit: int | None = None) -> HousekeepingReport:
    """Delete request-log rows past GEMPOOL_REQUEST_LOG_RETENTION_DAYS, hourly usage rows past
    GEMPOOL_USAGE_HOUR_RETENTION_DAYS, media past GEMPOOL_MEDIA_RETENTION_HOURS (at most `media_limit` media
    files) and stored responses past GEMPOOL_RESPONSE_RETENTION_DAYS."""
    return HousekeepingReport(request_log_rows=request_log_prune(), usage_hours=usage_hour_prune(),
                              media_files=media_prune(limit=media_limit), stored_responses=stored_response_prune())


class _ProcessLook:
    """When this process may next ask the cache whether housekeeping is due (a monotonic time).

    No lock: two threads racing past it both ask the cache, where cache.add lets only one of them run.
    """

    def __init__(self) -> None:
        self.next_at = 0.0

    def due(self, interval: float) -> bool:
        now = time.monotonic()
        if now < self.next_at:
            return False
        self.next_at = now + interval
        return True


_look = _ProcessLook()


def housekeeping_if_due() -> HousekeepingReport | None:
    """Run housekeeping if no process did within GEMPOOL_HOUSEKEEPING_INTERVAL; None if not due (or off).

    Errors are logged, never raised: this runs at the end of client requests.
    """
    interval = settings.GEMPOOL_HOUSEKEEPING_INTERVAL
    if not interval or not _look.due(interval):
        return None
    # cache.add is atomic on every backend: one process in the cluster wins each interval.
    if not cache.add(DUE_KEY, 1, timeout=max(1, int(interval))):
        return None
    try:
        report = housekeeping_run(media_limit=MEDIA_LIMIT_PER_AUTOMATIC_RUN)
    except (DatabaseError, OSError):
        logger.exception("housekeeping failed")
        return None
    logger.info("housekeeping done", extra={"request_log_rows": report.request_log_rows,
                                            "usage_hours": report.usage_hours,
                                            "media_files": report.media_files,
                                            "stored_responses": report.stored_responses})
    return report


def housekeeping_after_request(sender, **kwargs) -> None:
    """request_finished receiver: the response is out, so the client never waits for this."""
    # Django's end-of-request connection cleanup may already have run; a connection opened here is
    # recycled by the cleanup at the start of the thread's next request, as usual.
    housekeeping_if_due()
