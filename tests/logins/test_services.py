"""Which accounts the worker takes, how claims keep workers apart, backoff, and job retention."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import AccountStatus
from logins import services
from logins.models import JobOutcome, JobTrigger, LoginProfile, Mailbox, RefreshJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox(db):
    return Mailbox.objects.create(name="box", host="imap.mail.test", username="box@mail.test", password="pw")


@pytest.fixture
def profiled(make_account, mailbox):
    def make(*, expires_in: timedelta = timedelta(minutes=30), with_mailbox: bool = True, **fields):
        account = make_account(login_expires_at=timezone.now() + expires_in, **fields)
        return LoginProfile.objects.create(account=account, email=f"{account.csesidx}@mail.test",
                                           mailbox=mailbox if with_mailbox else None)
    return make


def due_ids() -> list[int]:
    return list(services.due_profiles().values_list("account_id", flat=True))


def test_due_means_expiring_within_the_window_or_gone_and_renewable(profiled, settings):
    settings.GEMPOOL_REFRESH_WINDOW_MINUTES = 60
    soon = profiled(expires_in=timedelta(minutes=30))
    gone = profiled(expires_in=timedelta(hours=8), status=AccountStatus.NEEDS_LOGIN)
    profiled(expires_in=timedelta(hours=3))  # not yet
    profiled(expires_in=timedelta(minutes=5), with_mailbox=False)  # cannot renew itself
    profiled(expires_in=timedelta(minutes=5), enabled=False, status=AccountStatus.DISABLED)
    profiled(expires_in=timedelta(minutes=5), status=AccountStatus.NEEDS_ATTENTION)  # waits for a person
    backing_off = profiled(expires_in=timedelta(minutes=5))
    LoginProfile.objects.filter(pk=backing_off.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert sorted(due_ids()) == sorted([soon.account_id, gone.account_id])


def test_refresh_now_goes_first_past_backoff_and_a_hard_stop(profiled):
    profiled(expires_in=timedelta(minutes=1))
    stopped = profiled(expires_in=timedelta(hours=9), status=AccountStatus.NEEDS_ATTENTION)
    LoginProfile.objects.filter(pk=stopped.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    services.refresh_request(account=stopped.account)
    assert due_ids()[0] == stopped.account_id


def test_a_claim_is_won_once_until_released_or_run_out(profiled, settings):
    profile = profiled()
    assert services.claim(profile_id=profile.pk, worker="a")
    assert not services.claim(profile_id=profile.pk, worker="b")
    assert profile.account_id not in due_ids()
    services.release(profile_id=profile.pk, worker="b")  # not b's to release
    assert not services.claim(profile_id=profile.pk, worker="b")
    later = timezone.now() + timedelta(seconds=settings.GEMPOOL_REFRESH_CLAIM_SECONDS + 1)
    assert services.claim(profile_id=profile.pk, worker="b", now=later)  # a crashed holder's claim ran out


def test_claim_next_skips_what_was_refreshed_meanwhile(profiled):
    profile = profiled(expires_in=timedelta(minutes=1))
    claimed = services.claim_next(worker="a")
    assert claimed.pk == profile.pk
    services.release(profile_id=profile.pk, worker="a")
    # Another worker finished it: the login now lasts, so a stale candidate list must not redo it.
    type(profile.account).objects.filter(pk=profile.account_id).update(
        login_expires_at=timezone.now() + timedelta(hours=12))
    assert services.claim_next(worker="b") is None
    assert LoginProfile.objects.get(pk=profile.pk).claimed_by == ""


def test_backoff_doubles_and_is_capped(settings):
    settings.GEMPOOL_REFRESH_BACKOFF_SECONDS = 300
    settings.GEMPOOL_REFRESH_BACKOFF_MAX_SECONDS = 3600
    assert [services.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5, 40)] == [300, 600, 1200, 2400, 3600, 3600]


def test_old_jobs_go_with_their_screenshots_and_abandoned_ones_are_closed(make_account, settings):
    settings.GEMPOOL_REFRESH_JOB_RETENTION_DAYS = 7
    account = make_account()
    shots = django_settings.DATA_DIR / "login-screenshots"
    shots.mkdir(exist_ok=True)
    old = RefreshJob.objects.create(account=account, trigger=JobTrigger.EXPIRING, outcome=JobOutcome.FAILED,
                                    started_at=timezone.now() - timedelta(days=8))
    (shots / f"job-{old.pk}.png").write_bytes(b"png")
    RefreshJob.objects.filter(pk=old.pk).update(screenshot=f"job-{old.pk}.png")
    kept = RefreshJob.objects.create(account=account, trigger=JobTrigger.EXPIRING, outcome=JobOutcome.SUCCEEDED)
    abandoned = RefreshJob.objects.create(account=account, trigger=JobTrigger.EXPIRING,
                                          started_at=timezone.now() - timedelta(hours=2))

    assert services.jobs_prune() == 1
    assert not (shots / f"job-{old.pk}.png").exists()
    assert set(RefreshJob.objects.values_list("pk", flat=True)) == {kept.pk, abandoned.pk}
    abandoned.refresh_from_db()
    assert abandoned.outcome == JobOutcome.FAILED and "worker stopped" in abandoned.error
