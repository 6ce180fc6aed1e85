"""Per-account figures (requests, errors, latency), counted from upstream attempts.

One definition for every page: an account's requests are the upstream attempts it made (a request that
failed over counts once on each account it tried), its errors are the attempts that ended in an upstream
error, its latency the mean time of its attempts. The Accounts page, the Dashboard, /api and /metrics all
count these same records.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from metering.models import AttemptOutcome, RequestAttempt

WINDOW_HOURS = 24
ERROR = Q(outcome=AttemptOutcome.ERROR)


@dataclass(frozen=True)
class AccountFigures:
    requests: int = 0
    errors: int = 0
    latency_ms_total: int = 0

    @property
    def latency_ms_avg(self) -> int | None:
        return round(self.latency_ms_total / self.requests) if self.requests else None

    def as_dict(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, "latency_ms_avg": self.latency_ms_avg}


def window_start(now: datetime | None = None) -> datetime:
    """Where "the last 24 hours" start on every page: the top of the hour 23 hours ago (the dashboard's
    first hourly bar), so a figure and the sum of its bars are the same number."""
    now = now or timezone.now()
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=WINDOW_HOURS - 1)


def account_figures(*, since: datetime | None = None, account_ids: list[int] | None = None
                    ) -> dict[int | None, AccountFigures]:
    """Figures per account id (None: attempts of deleted accounts) since `since` (default: window_start())."""
    rows = RequestAttempt.objects.filter(started_at__gte=since or window_start())
    if account_ids is not None:
        rows = rows.filter(account_id__in=account_ids)
    totals = rows.values("account_id").annotate(requests=Count("id"), errors=Count("id", filter=ERROR),
                                                latency=Sum("latency_ms")).order_by()
    return {row["account_id"]: AccountFigures(requests=row["requests"], errors=row["errors"],
                                              latency_ms_total=row["latency"] or 0) for row in totals}
