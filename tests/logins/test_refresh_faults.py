"""Each fault the simulator injects ends in the right state, with the right message and a screenshot."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from accounts.models import Account, AccountStatus
from logins.models import JobOutcome, LoginProfile
from logins.worker import RefreshWorker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def _refresh_once(account):
    [job] = RefreshWorker(browsers=1).run_once()
    assert job.account_id == account.pk
    account.refresh_from_db()
    return job


@pytest.mark.parametrize("fault", ["wrong_first_code", "slow_mail=2", "lost_mail", "decoy_mail", "onboarding"])
def test_the_flow_gets_through_what_a_patient_person_would(refresh_settings, seat, login_sim, fault):
    account, sim_account, _ = seat(expires_in=60)
    login_sim.add_fault(fault, csesidx=account.csesidx, count=1)

    job = _refresh_once(account)

    assert job.outcome == JobOutcome.SUCCEEDED, (job.step, job.error)
    assert account.secure_c_ses == sim_account.secure_c_ses and account.status == AccountStatus.ACTIVE


@pytest.mark.parametrize(("fault", "step", "message"), [
    ("captcha", "send_code", "Google asked for a CAPTCHA"),
    ("access_restricted", "send_code", "Access Restricted"),
    ("signin_error", "send_code", "sign-in error page"),
    ("something_wrong", "send_code", "something went wrong"),
    ("too_many_codes", "verify", "too many wrong codes"),
])
def test_a_hard_stop_waits_for_a_person_with_the_reason(refresh_settings, seat, login_sim, fault, step, message):
    account, _, _ = seat(expires_in=60)
    old_cookie = account.secure_c_ses
    login_sim.add_fault(fault, csesidx=account.csesidx, count=1)

    job = _refresh_once(account)

    assert (job.outcome, job.step) == (JobOutcome.HARD_STOP, step), job.error
    assert message.lower() in job.error.lower()
    assert account.status == AccountStatus.NEEDS_ATTENTION and message.lower() in account.attention_reason.lower()
    assert account.secure_c_ses == old_cookie
    assert job.page_url.startswith(login_sim.url) and job.page_title
    screenshot = django_settings.DATA_DIR / "login-screenshots" / job.screenshot
    assert job.screenshot == f"job-{job.pk}.png" and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Not retried until an operator acts, however due the login is.
    assert RefreshWorker(browsers=1).run_once() == []


def test_a_soft_failure_backs_off_and_keeps_the_account_as_it_was(refresh_settings, seat, login_sim):
    account, _, _ = seat(expires_in=60)
    login_sim.configure_login(lmtp=None)  # no code ever arrives

    job = _refresh_once(account)

    assert (job.outcome, job.step) == (JobOutcome.FAILED, "wait_code")
    assert "no code mail arrived" in job.error and job.screenshot
    assert account.status == AccountStatus.ACTIVE and account.last_error_kind == "refresh_failed"
    profile = LoginProfile.objects.get(account=account)
    assert profile.failure_streak == 1
    wait = (profile.next_attempt_at - timezone.now()).total_seconds()
    assert wait > django_settings.GEMPOOL_REFRESH_BACKOFF_SECONDS - 30
    assert RefreshWorker(browsers=1).run_once() == []  # backing off


@pytest.mark.parametrize(("variant", "submit"), [("b", "url"), ("c", "url"), ("a", "form"), ("b", "form"),
                                                 ("c", "form")])
def test_every_page_variant_works_by_url_and_by_form(refresh_settings, seat, login_sim, variant, submit):
    refresh_settings.GEMPOOL_LOGIN_EMAIL_SUBMIT = submit
    login_sim.configure_login(variant=variant)
    account, sim_account, _ = seat(expires_in=60)

    job = _refresh_once(account)

    assert job.outcome == JobOutcome.SUCCEEDED, (job.step, job.error)
    assert Account.objects.get(pk=account.pk).secure_c_ses == sim_account.secure_c_ses
