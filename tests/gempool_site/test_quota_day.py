"""The quota day starts at the configured hour in the configured zone, daylight saving included."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured

from gempool_site.env import env_timezone
from gempool_site.quota_day import quota_day


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_day_at_midnight_utc_runs_from_one_midnight_to_the_next(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "UTC", 0
    day = quota_day(at("2026-12-05T13:00:00"))
    assert (day.label, day.starts_at, day.ends_at) == ("2026-12-05", at("2026-12-05T00:00:00"),
                                                       at("2026-12-06T00:00:00"))


def test_the_last_second_before_the_reset_belongs_to_the_old_day_and_the_reset_to_the_new(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "Asia/Shanghai", 16  # 08:00 UTC
    before, after = quota_day(at("2026-12-05T07:59:59")), quota_day(at("2026-12-05T08:00:00"))
    assert before.label == "2026-12-04" and before.ends_at == at("2026-12-05T08:00:00")
    assert after.label == "2026-12-05" and after.starts_at == before.ends_at
    assert before.seconds_left(at("2026-12-05T07:59:59")) == 1


def test_pacific_midnight_follows_daylight_saving(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "America/Los_Angeles", 0
    winter, summer = quota_day(at("2026-12-05T12:00:00")), quota_day(at("2026-07-05T12:00:00"))
    assert winter.starts_at == at("2026-12-05T08:00:00")  # PST, UTC-8
    assert summer.starts_at == at("2026-07-05T07:00:00")  # PDT, UTC-7
    spring_forward = quota_day(at("2026-03-08T12:00:00"))
    assert spring_forward.ends_at - spring_forward.starts_at == at("2026-03-09T07:00:00") - at("2026-03-08T08:00:00")
    assert (spring_forward.ends_at - spring_forward.starts_at).total_seconds() == 23 * 3600


def test_seconds_left_is_never_zero_so_retry_after_stays_meaningful(settings):
    settings.GEMPOOL_QUOTA_TIMEZONE, settings.GEMPOOL_QUOTA_RESET_HOUR = "UTC", 0
    day = quota_day(at("2026-12-05T23:59:59.900000"))
    assert day.seconds_left(at("2026-12-05T23:59:59.900000")) == 1
    assert day.seconds_left(at("2026-12-05T12:00:00")) == 12 * 3600


def test_an_unknown_time_zone_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("GEMPOOL_QUOTA_TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ImproperlyConfigured, match="GEMPOOL_QUOTA_TIMEZONE"):
        env_timezone("GEMPOOL_QUOTA_TIMEZONE", "UTC")
    monkeypatch.setenv("GEMPOOL_QUOTA_TIMEZONE", "Europe/Berlin")
    assert env_timezone("GEMPOOL_QUOTA_TIMEZONE", "UTC") == "Europe/Berlin"
