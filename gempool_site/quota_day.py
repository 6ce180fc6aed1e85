"""The quota day: the 24 hours that daily key budgets and daily account quotas count within.

A day starts at GEMPOOL_QUOTA_RESET_HOUR o'clock in GEMPOOL_QUOTA_TIMEZONE (wall-clock time, so it follows
daylight saving: such a day is 23 or 25 hours long). Its label, the date on which it starts, names the day's
counters, so every worker and instance agrees on which counter a moment belongs to.
"""
from __future__ import annotations

import math
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone


@dataclass(frozen=True)
class QuotaDay:
    label: str  # ISO date of the local day the period starts on, e.g. "2026-12-05"
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC: the next reset

    def seconds_left(self, now: datetime) -> int:
        """Whole seconds until the reset (at least 1): a Retry-After."""
        return max(1, math.ceil((self.ends_at - now).total_seconds()))


def quota_day(now: datetime | None = None) -> QuotaDay:
    """The quota day `now` falls in."""
    now = now or timezone.now()
    zone = zoneinfo.ZoneInfo(settings.GEMPOOL_QUOTA_TIMEZONE)
    hour = settings.GEMPOOL_QUOTA_RESET_HOUR
    local = now.astimezone(zone)
    day = local.date() if local.time() >= time(hour) else local.date() - timedelta(days=1)
    return QuotaDay(label=day.isoformat(), starts_at=_reset(day, hour, zone),
                    ends_at=_reset(day + timedelta(days=1), hour, zone))


def _reset(day: date, hour: int, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
