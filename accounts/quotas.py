"""Daily quotas per account and kind of answer: text, image, video.

What counts (from the upstream's answers): every answer is one against `text`; each generated image one
against `image`; each generated video one against `video`. A request needs the kinds its model can produce
(`request_kinds`): text always, image for an image-generating model, video for a video-generating one, and
the lease skips an account with any of those used up (accounts.pool, one condition per kind in the lease's
WHERE), so an account out of image quota still serves text.

Counts live in the shared cache (Redis when REDIS_URL is set): one counter per account, kind and quota day
(gempool_site.quota_day), bumped atomically after each answer. The answer that reaches the quota (the
account's own, else the pool's; 0 = unlimited) writes `<kind>_exhausted_until` = the next reset through
the life cycle; a 429 from the upstream that names a quota does the same (accounts.pool.report_failure).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.utils import timezone

from accounts import lifecycle
from accounts.models import Account, PoolSettings
from gempool_site.quota_day import QuotaDay, quota_day
from gempool_site.throttles import counter_add

logger = logging.getLogger(__name__)

KINDS = lifecycle.QUOTA_KINDS
COUNTER_GRACE_SECONDS = 3600


def request_kinds(model) -> tuple[str, ...]:
    """The kinds a request to `model` may use up, so the lease needs each of them left."""
    return ("text",) + (("image",) if model.image_generation else ()) + (("video",) if model.video_generation else ())


def answer_usage(*, mime_types: Iterable[str]) -> dict[str, int]:
    """What one answer counts: one text, and one image or video per generated file."""
    used = {"text": 1, "image": 0, "video": 0}
    for mime in mime_types:
        if mime.startswith("image/"):
            used["image"] += 1
        elif mime.startswith("video/"):
            used["video"] += 1
    return used


def quota_limit(account: Account, pool: PoolSettings, kind: str) -> int:
    """The account's daily quota of `kind`: its own if set, else the pool's; 0 = unlimited."""
    own = getattr(account, f"daily_{kind}_quota")
    return getattr(pool, f"daily_{kind}_quota") if own is None else own


def _counter_key(account_id: int, kind: str, day: QuotaDay) -> str:
    return f"acctquota:{account_id}:{kind}:{day.label}"


def quota_count_answer(*, account: Account, pool: PoolSettings, mime_types: Iterable[str],
                       now: datetime | None = None) -> list[str]:
    """Count one answer of `account`; rest each kind it used up today. Returns the kinds that now rest."""
    now = now or timezone.now()
    day = quota_day(now)
    rested = []
    for kind, amount in answer_usage(mime_types=mime_types).items():
        if not amount:
            continue
        count = counter_add(_counter_key(account.pk, kind, day), amount,
                            timeout=day.seconds_left(now) + COUNTER_GRACE_SECONDS)
        limit = quota_limit(account, pool, kind)
        if limit and count >= limit:
            lifecycle.apply(account, lifecycle.quota_exhausted(kind=kind, until=day.ends_at, now=now))
            rested.append(kind)
            logger.info("account used up a daily quota", extra={
                "account_id": account.pk, "kind": kind, "used": count, "quota": limit,
                "until": day.ends_at.isoformat()})
    return rested


def quota_usage_today(account_ids: list[int], *, now: datetime | None = None) -> dict[int, dict[str, int]]:
    """Today's counts per account and kind, in one cache round trip."""
    day = quota_day(now)
    keys = {(pk, kind): _counter_key(pk, kind, day) for pk in account_ids for kind in KINDS}
    found = cache.get_many(list(keys.values()))
    return {pk: {kind: found.get(keys[(pk, kind)]) or 0 for kind in KINDS} for pk in account_ids}


@dataclass(frozen=True)
class QuotaRest:
    """Leasable accounts that rest for a used-up quota of the request's kinds, and the soonest reset."""

    resting: int
    soonest_reset: datetime | None


def pool_quota_rest(*, kinds: tuple[str, ...], now: datetime | None = None) -> QuotaRest:
    """For the "no account" answer: how many accounts rest for a used-up quota of `kinds`? (Off the hot path.)"""
    now = now or timezone.now()
    exhausted = Q()
    for kind in kinds:
        exhausted |= Q(**{f"{kind}_exhausted_until__gt": now})
    agg = Account.objects.filter(exhausted, enabled=True, status__in=lifecycle.LEASABLE_STATUSES).aggregate(
        resting=Count("id"), **{kind: Min(f"{kind}_exhausted_until", filter=Q(**{f"{kind}_exhausted_until__gt": now}))
                                for kind in kinds})
    resets = [agg[kind] for kind in kinds if agg[kind] is not None]
    return QuotaRest(resting=agg["resting"], soonest_reset=min(resets) if resets else None)
