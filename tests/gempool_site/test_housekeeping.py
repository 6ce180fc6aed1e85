"""Housekeeping: request log, hourly usage rollup and media retention from one place, automatic at most once
per interval, and the `manage.py housekeeping` command for cron."""
from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone

from accounts.models import RequestLog
from files_app import media
from files_app.models import GeneratedMedia
from gempool_site import housekeeping
from metering.models import UsageHour
from openai_api.models import StoredResponse

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def isolated(settings, tmp_path, monkeypatch):
    """Own data dir, an empty cache, this process never looked yet, automatic runs every 600 s."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.GEMPOOL_HOUSEKEEPING_INTERVAL = 600
    settings.GEMPOOL_REQUEST_LOG_RETENTION_DAYS = 7
    settings.GEMPOOL_MEDIA_RETENTION_HOURS = 72
    settings.GEMPOOL_USAGE_HOUR_RETENTION_DAYS = 35
    monkeypatch.setattr(housekeeping, "_look", housekeeping._ProcessLook())
    cache.delete(housekeeping.DUE_KEY)
    yield
    cache.delete(housekeeping.DUE_KEY)


def _log(*, days_ago: float) -> RequestLog:
    return RequestLog.objects.create(created_at=timezone.now() - timedelta(days=days_ago), status_code=200,
                                     latency_ms=1, model="gemini-2.5-flash")


def _usage_hours(*, days_ago: tuple[float, ...]) -> None:
    for ago in days_ago:
        hour = (timezone.now() - timedelta(days=ago)).replace(minute=0, second=0, microsecond=0)
        UsageHour.objects.create(hour=hour, model="gemini-2.5-flash", requests=1)


def _media(*, hours_ago: float) -> GeneratedMedia:
    item = media.media_store(data=PNG, mime_type="image/png", account=None, upstream_file_id="up-1")
    GeneratedMedia.objects.filter(pk=item.pk).update(created_at=timezone.now() - timedelta(hours=hours_ago))
    return item


def _old_and_new(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        old_log, new_log = _log(days_ago=8), _log(days_ago=6)
        old_media, new_media = _media(hours_ago=73), _media(hours_ago=1)
    return old_log, new_log, old_media, new_media


def test_a_run_removes_what_is_past_each_retention_and_keeps_the_rest(django_capture_on_commit_callbacks):
    old_log, new_log, old_media, new_media = _old_and_new(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        report = housekeeping.housekeeping_run()
    assert (report.request_log_rows, report.media_files) == (1, 1)
    assert list(RequestLog.objects.values_list("pk", flat=True)) == [new_log.pk]
    assert list(GeneratedMedia.objects.values_list("pk", flat=True)) == [new_media.pk]


def test_the_hourly_usage_rollup_is_kept_its_own_retention(settings):
    _usage_hours(days_ago=(36, 34, 1))
    assert housekeeping.housekeeping_run().usage_hours == 1
    assert UsageHour.objects.count() == 2
    settings.GEMPOOL_USAGE_HOUR_RETENTION_DAYS = 31
    assert housekeeping.housekeeping_run().usage_hours == 1


def test_the_automatic_run_happens_once_per_interval_across_processes(django_capture_on_commit_callbacks,
                                                                      django_assert_num_queries, monkeypatch):
    _old_and_new(django_capture_on_commit_callbacks)
    assert housekeeping.housekeeping_if_due().request_log_rows == 1
    _log(days_ago=9)
    with django_assert_num_queries(0):
        assert housekeeping.housekeeping_if_due() is None  # this process looked already: a clock read only
    monkeypatch.setattr(housekeeping, "_look", housekeeping._ProcessLook())  # as another process would
    with django_assert_num_queries(0):
        assert housekeeping.housekeeping_if_due() is None  # the cluster-wide key says it ran: no query
    cache.delete(housekeeping.DUE_KEY)  # the interval has passed for the cluster ...
    assert housekeeping.housekeeping_if_due() is None  # ... but not yet for this process
    monkeypatch.setattr(housekeeping, "_look", housekeeping._ProcessLook())
    assert housekeeping.housekeeping_if_due().request_log_rows == 1


def test_an_interval_of_zero_leaves_it_to_the_command(settings):
    settings.GEMPOOL_HOUSEKEEPING_INTERVAL = 0
    _log(days_ago=30)
    assert housekeeping.housekeeping_if_due() is None
    assert RequestLog.objects.count() == 1


def test_housekeeping_runs_after_a_request_once_the_response_is_out(client):
    old = _log(days_ago=30)
    response = client.get("/health")
    assert response.status_code == 200
    assert not RequestLog.objects.filter(pk=old.pk).exists()


def test_a_failure_is_logged_not_raised_into_the_request(monkeypatch, caplog):
    def broken(**kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(housekeeping, "request_log_prune", broken)
    with caplog.at_level(logging.ERROR, logger="gempool_site.housekeeping"):
        assert housekeeping.housekeeping_if_due() is None
    assert "housekeeping failed" in caplog.text


def test_the_command_runs_every_retention(django_capture_on_commit_callbacks, api_key, settings):
    _old_and_new(django_capture_on_commit_callbacks)
    settings.GEMPOOL_RESPONSE_RETENTION_DAYS = 30
    _usage_hours(days_ago=(36, 34))
    for response_id in ("resp_old", "resp_new"):
        StoredResponse.objects.create(id=response_id, api_key=api_key[0], model="m", body={}, context=[])
    StoredResponse.objects.filter(pk="resp_old").update(created_at=timezone.now() - timedelta(days=31))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("housekeeping", "--orphans", stdout=out)
    assert ("Deleted 1 request-log row(s), 1 hourly usage row(s), 1 expired media file(s) and 1 stored "
            "response(s)." in out.getvalue())
    assert "orphaned file(s)" in out.getvalue()
    assert RequestLog.objects.count() == 1 and GeneratedMedia.objects.count() == 1
    assert list(StoredResponse.objects.values_list("pk", flat=True)) == ["resp_new"]


def test_the_old_interval_variable_is_refused_by_name(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from gempool_site.env import env_renamed

    monkeypatch.setenv("GEMPOOL_MEDIA_PRUNE_INTERVAL", "600")
    with pytest.raises(ImproperlyConfigured, match="GEMPOOL_MEDIA_PRUNE_INTERVAL was renamed "
                                                   "GEMPOOL_HOUSEKEEPING_INTERVAL"):
        env_renamed("GEMPOOL_MEDIA_PRUNE_INTERVAL", "GEMPOOL_HOUSEKEEPING_INTERVAL")
