"""Re-login operations: which accounts are due, claiming one, running an attempt, recording it.

Account state (cookies, status, expiry, errors) is written through accounts.lifecycle only; this module
writes its own records: LoginProfile (schedule, claim, trial) and RefreshJob (one row per attempt).
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts import lifecycle
from accounts.cookie_paste import CookiePasteError, parse_cookie_paste
from accounts.models import Account, AccountStatus
from accounts.services import AccountTestResult, account_test
from accounts.upstream import effective_proxy, get_client, pool_settings_get
from gemini_enterprise.errors import UpstreamError
from gemini_enterprise.types import Credentials
from gempool_site.exceptions import BadRequestError
from logins.flow import FlowFailure, FlowInputs, LoginCapture, run_login
from logins.flow_data import FlowData, FlowDataInvalid, load_flow_data
from logins.mailbox import MailboxAccess, check_access, fetch_codes
from logins.models import JobOutcome, JobTrigger, LoginProfile, Mailbox, MailboxKind, RefreshJob

logger = logging.getLogger(__name__)

SCREENSHOT_DIR = "login-screenshots"
# Asked-for first (oldest request first), then the soonest to expire; NULLs sort differently per database.
QUEUE_ORDER = (F("refresh_requested_at").asc(nulls_last=True), F("account__login_expires_at").asc(nulls_last=True),
               "account_id")
STEP_VERIFY_TOKEN = "verify_token"
STEP_WRITE_TIMEOUT = 5.0  # seconds a step's progress write may take before the flow goes on without it
STEP_SAVE = "save"


def worker_name() -> str:
    """This process's name in claims and job rows: host, pid and a random tag (pids repeat across hosts)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def screenshot_dir() -> Path:
    return Path(settings.DATA_DIR) / SCREENSHOT_DIR


# ---- what is due -----------------------------------------------------------------------------


def due_profiles(*, now: datetime | None = None) -> QuerySet[LoginProfile]:
    """Profiles to refresh now and free to claim, asked-for first, then the soonest to expire."""
    now = now or timezone.now()
    return (wanted_profiles(now=now).select_related("account", "mailbox")
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by(*QUEUE_ORDER))


def wanted_profiles(*, now: datetime) -> QuerySet[LoginProfile]:
    """Profiles that want a refresh, held or not.

    Wanted: a mailbox is set, the account is enabled, and either an operator asked, or (outside its
    backoff and not waiting for a person) its login expires within the window or is already gone.
    """
    window = now + timedelta(minutes=settings.GEMPOOL_REFRESH_WINDOW_MINUTES)
    scheduled = (Q(account__login_expires_at__lte=window) | Q(account__status=AccountStatus.NEEDS_LOGIN)) \
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)) \
        & ~Q(account__status=AccountStatus.NEEDS_ATTENTION)
    return (LoginProfile.objects.filter(mailbox__isnull=False, account__enabled=True)
            .exclude(account__status=AccountStatus.DISABLED)
            .filter(Q(refresh_requested_at__isnull=False) | scheduled))


# ---- claims ----------------------------------------------------------------------------------


def claim(*, profile_id: int, worker: str, now: datetime | None = None) -> bool:
    """Take the profile for `worker` unless someone holds it: one conditional UPDATE, so two workers
    (threads, processes or machines on one database) can never both win, on SQLite as on PostgreSQL."""
    now = now or timezone.now()
    until = now + timedelta(seconds=settings.GEMPOOL_REFRESH_CLAIM_SECONDS)
    won = LoginProfile.objects.filter(pk=profile_id).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)).update(claimed_by=worker, claimed_until=until)
    return won == 1


def release(*, profile_id: int, worker: str) -> None:
    LoginProfile.objects.filter(pk=profile_id, claimed_by=worker).update(claimed_by="", claimed_until=None)


def claim_next(*, worker: str, skip: set[int] | frozenset[int] = frozenset()) -> LoginProfile | None:
    """Claim the first due profile (not in `skip`) that is still due once claimed; None when none is."""
    now = timezone.now()
    for profile_id in due_profiles(now=now).exclude(pk__in=skip).values_list("pk", flat=True)[:50]:
        if not claim(profile_id=profile_id, worker=worker, now=now):
            continue  # another worker got there first
        if wanted_profiles(now=timezone.now()).filter(pk=profile_id).exists():
            return LoginProfile.objects.select_related("account", "mailbox").get(pk=profile_id)
        release(profile_id=profile_id, worker=worker)  # it was refreshed between our read and our claim
    return None


# ---- one attempt -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptPlan:
    """Everything the browser thread needs, read from the database before the browser starts."""

    job_id: int
    account_id: int
    inputs: FlowInputs
    proxy: str | None


def refresh_profile(*, profile: LoginProfile, worker: str) -> RefreshJob:
    """Run one re-login attempt for a claimed profile and record it; the claim is released at the end."""
    account = profile.account
    trigger = JobTrigger.MANUAL if profile.refresh_requested_at else (
        JobTrigger.NEEDS_LOGIN if account.status == AccountStatus.NEEDS_LOGIN else JobTrigger.EXPIRING)
    job = RefreshJob.objects.create(account=account, trigger=trigger, worker=worker, step="start")
    logger.info("refresh started", extra={"account_id": account.pk, "job_id": job.pk, "trigger": trigger})
    try:
        try:
            plan = _plan(profile, job)
        except FlowDataInvalid as exc:
            return _record_failure(profile, job.pk, FlowFailure("start", str(exc)))
        try:
            capture = run_login(plan.inputs, on_step=_step_recorder(job.pk))
        except FlowFailure as failure:
            return _record_failure(profile, job.pk, failure)
        return _finish(profile, plan, capture)
    except Exception as exc:  # noqa: BLE001 - one account's surprise must not stop the worker: record it
        logger.exception("refresh crashed", extra={"account_id": account.pk, "job_id": job.pk})
        return _record_failure(profile, job.pk, FlowFailure("internal", f"unexpected {type(exc).__name__} "
                                                                        "(see the worker's log)"))
    finally:
        release(profile_id=profile.pk, worker=worker)


def _step_recorder(job_id: int):
    """Writes each step of a running attempt to its job, for the console's Running list.

    The flow calls it from inside Playwright's event loop, where Django refuses ORM calls: each write runs
    on a short-lived thread of its own (joined, so steps land in order)."""
    def write(step: str) -> None:
        def update() -> None:
            try:
                RefreshJob.objects.filter(pk=job_id, outcome=JobOutcome.RUNNING).update(step=step)
            finally:
                connection.close()

        writer = threading.Thread(target=update, name="refresh-step", daemon=True)
        writer.start()
        writer.join(timeout=STEP_WRITE_TIMEOUT)

    return write


def _plan(profile: LoginProfile, job: RefreshJob) -> AttemptPlan:
    account, mailbox = profile.account, profile.mailbox
    proxy = effective_proxy(account, pool_settings_get())
    access = mailbox_access(mailbox, proxy=proxy)
    data = flow_data()
    rules = data.code_rules()
    recipient = profile.email
    previous = RefreshJob.objects.filter(account=account, finished_at__isnull=False).exclude(pk=job.pk) \
        .order_by("-finished_at").values_list("finished_at", flat=True).first()

    def codes(since: datetime, tried: frozenset[str]):
        return fetch_codes(access, rules, since=since, recipient=recipient, exclude=tried)

    inputs = FlowInputs(
        email=profile.email, auth_url=settings.GEMPOOL_LOGIN_AUTH_URL, verify_url=settings.GEMPOOL_LOGIN_VERIFY_URL,
        business_url=settings.GEMPOOL_LOGIN_BUSINESS_URL, data=data, codes=codes,
        submit=settings.GEMPOOL_LOGIN_EMAIL_SUBMIT, full_name=account.label, chromium=settings.GEMPOOL_REFRESH_CHROMIUM,
        headless=settings.GEMPOOL_REFRESH_HEADLESS, proxy=proxy,
        screenshot_path=screenshot_dir() / f"job-{job.pk}.png", mail_not_before=previous)
    return AttemptPlan(job_id=job.pk, account_id=account.pk, inputs=inputs, proxy=proxy)


def _finish(profile: LoginProfile, plan: AttemptPlan, capture: LoginCapture) -> RefreshJob:
    """Prove the new login with a real token fetch, then store it through the life cycle."""
    creds = Credentials(key=f"account-{plan.account_id}-{capture.csesidx}", team_id=capture.team_id,
                        csesidx=capture.csesidx, secure_c_ses=capture.secure_c_ses, host_c_oses=capture.host_c_oses,
                        user_agent=capture.user_agent or Credentials.__dataclass_fields__["user_agent"].default,
                        proxy=plan.proxy)
    try:
        get_client().check_login(creds)
    except UpstreamError as exc:
        failure = FlowFailure(STEP_VERIFY_TOKEN, f"the new login failed its token check: {exc.kind}: {exc.message}")
        return _record_failure(profile, plan.job_id, failure)
    now = timezone.now()
    changes = lifecycle.login_refreshed(
        secure_c_ses=capture.secure_c_ses, host_c_oses=capture.host_c_oses, csesidx=capture.csesidx,
        team_id=capture.team_id, now=now, user_agent=capture.user_agent or None, expires_at=capture.cookie_expires_at)
    try:
        with transaction.atomic():
            lifecycle.apply(plan.account_id, changes)
    except Exception as exc:  # noqa: BLE001 - e.g. the new seat collides with another account's: record it
        failure = FlowFailure(STEP_SAVE, f"the new login could not be stored: {type(exc).__name__}")
        return _record_failure(profile, plan.job_id, failure)
    expires = Account.objects.values_list("login_expires_at", flat=True).get(pk=plan.account_id)
    LoginProfile.objects.filter(pk=profile.pk).update(
        failure_streak=0, next_attempt_at=None, refresh_requested_at=None, trial_days_left=capture.trial_days_left,
        trial_read_at=now if capture.trial_days_left is not None else None)
    RefreshJob.objects.filter(pk=plan.job_id).update(outcome=JobOutcome.SUCCEEDED, finished_at=timezone.now(),
                                                     step="done", new_login_expires_at=expires)
    logger.info("refresh succeeded", extra={"account_id": plan.account_id, "job_id": plan.job_id})
    return RefreshJob.objects.get(pk=plan.job_id)


def _record_failure(profile: LoginProfile, job_id: int, failure: FlowFailure) -> RefreshJob:
    now = timezone.now()
    reason = f"re-login failed at {failure.step}: {failure.reason}"
    lifecycle.apply(profile.account_id, lifecycle.refresh_failed(hard=failure.hard, reason=reason, now=now))
    if failure.hard:
        LoginProfile.objects.filter(pk=profile.pk).update(refresh_requested_at=None, next_attempt_at=None)
    else:
        streak = LoginProfile.objects.values_list("failure_streak", flat=True).get(pk=profile.pk) + 1
        LoginProfile.objects.filter(pk=profile.pk).update(
            failure_streak=streak, refresh_requested_at=None, next_attempt_at=now + backoff(streak))
    RefreshJob.objects.filter(pk=job_id).update(
        outcome=JobOutcome.HARD_STOP if failure.hard else JobOutcome.FAILED, finished_at=now, step=failure.step,
        error=failure.reason[:1000], page_url=failure.page_url[:1000], page_title=failure.page_title[:300],
        screenshot=failure.screenshot)
    logger.warning("refresh failed", extra={"account_id": profile.account_id, "job_id": job_id, "step": failure.step,
                                            "hard": failure.hard})
    return RefreshJob.objects.get(pk=job_id)


def backoff(streak: int) -> timedelta:
    """Wait before the next attempt after `streak` failures in a row: base * 2^(streak-1), capped."""
    seconds = settings.GEMPOOL_REFRESH_BACKOFF_SECONDS * (2 ** min(max(streak - 1, 0), 20))
    return timedelta(seconds=min(seconds, settings.GEMPOOL_REFRESH_BACKOFF_MAX_SECONDS))


# ---- mailboxes and flow data -----------------------------------------------------------------


def mailbox_access(mailbox: Mailbox, *, proxy: str | None = None) -> MailboxAccess:
    """The IMAP client's view of a mailbox (secrets included: never log it)."""
    oauth = mailbox.kind == MailboxKind.MICROSOFT_OAUTH
    return MailboxAccess(
        host=mailbox.host, port=mailbox.port, username=mailbox.username, security=mailbox.security,
        verify_tls=mailbox.verify_tls, ca_file=settings.GEMPOOL_MAILBOX_CA_FILE, password=mailbox.password,
        oauth_client_id=mailbox.oauth_client_id,
        oauth_refresh_token=mailbox.oauth_refresh_token, oauth_tenant=mailbox.oauth_tenant or "consumers",
        oauth_token_url=settings.GEMPOOL_MS_TOKEN_URL if oauth else "", folders=tuple(mailbox.folder_list),
        catch_all=mailbox.catch_all, timeout=settings.GEMPOOL_MAILBOX_TIMEOUT, proxy=proxy)


def mailbox_test(*, mailbox: Mailbox) -> int:
    """Log in to the mailbox and count its first folder (raises MailboxError with a safe message)."""
    return check_access(mailbox_access(mailbox))


def flow_data() -> FlowData:
    """The flow data in effect (read on each attempt, so an edited override file needs no restart)."""
    return load_flow_data(settings.GEMPOOL_LOGIN_FLOW_FILE)


# ---- operator actions ------------------------------------------------------------------------


def refresh_request(*, account: Account) -> LoginProfile:
    """"Refresh now": the next worker pass takes this account first, past any backoff or hard stop."""
    profile = getattr(account, "login_profile", None)
    if profile is None or profile.mailbox_id is None:
        raise BadRequestError("This account has no mailbox, so it cannot log in by itself; give it an email "
                             "address and a mailbox first, or paste new cookies.", param="account",
                             code="no_mailbox")
    LoginProfile.objects.filter(pk=profile.pk).update(refresh_requested_at=timezone.now(), next_attempt_at=None)
    profile.refresh_from_db()
    return profile


def mailbox_save(*, mailbox: Mailbox | None, data: dict) -> Mailbox:
    """Create (mailbox None) or change a mailbox from validated fields; a blank secret keeps the stored one."""
    mailbox = mailbox or Mailbox()
    for name, value in data.items():
        if name in ("password", "oauth_refresh_token") and not value and mailbox.pk:
            continue
        setattr(mailbox, name, value)
    mailbox.save()
    return mailbox


def profile_set(*, account: Account, email: str, mailbox: Mailbox | None) -> LoginProfile:
    """Give an account its login address and mailbox (None: no automatic re-login)."""
    profile, _ = LoginProfile.objects.update_or_create(account=account, defaults={"email": email, "mailbox": mailbox})
    return profile


def refresh_overview(*, now: datetime | None = None, recent: int = 30) -> dict:
    """What the console's Refresh page shows: running attempts, the queue, recent outcomes."""
    now = now or timezone.now()
    running = RefreshJob.objects.select_related("account").filter(outcome=JobOutcome.RUNNING)
    queue = list(wanted_profiles(now=now).select_related("account", "mailbox")
                 .order_by(*QUEUE_ORDER)[:100])
    upcoming = list(LoginProfile.objects.select_related("account", "mailbox")
                    .filter(mailbox__isnull=False, account__enabled=True)
                    .exclude(pk__in=[p.pk for p in queue]).order_by(*QUEUE_ORDER[1:])[:100])
    return {"now": now, "running": list(running), "queue": queue, "upcoming": upcoming,
            "recent": list(RefreshJob.objects.select_related("account").exclude(outcome=JobOutcome.RUNNING)
                           [:recent])}


def login_paste(*, account: Account, cookies: str, url: str) -> AccountTestResult:
    """Manual refresh: cookies a person copied (extension JSON, cookies.txt or a Cookie header) plus the app's
    /cid/<configId>?csesidx=<n> URL become the account's login, which is then tested at once."""
    try:
        pasted = parse_cookie_paste(cookies, url)
    except CookiePasteError as exc:
        raise BadRequestError(str(exc), param=exc.field, code="cookie_paste_invalid") from None
    changes = lifecycle.cookies_replaced(now=timezone.now(), expires_at=pasted.expires_at).including(
        secure_c_ses=pasted.secure_c_ses, host_c_oses=pasted.host_c_oses, csesidx=pasted.csesidx,
        team_id=pasted.config_id)
    try:
        with transaction.atomic():
            lifecycle.apply(account.pk, changes)
    except IntegrityError:
        raise BadRequestError("Another account already has this team id and csesidx.", param="url",
                             code="duplicate_account") from None
    # A person fixed the login: the worker's backoff for it is over.
    LoginProfile.objects.filter(account_id=account.pk).update(failure_streak=0, next_attempt_at=None)
    logger.info("cookies pasted", extra={"account_id": account.pk, "format": pasted.source_format})
    account.refresh_from_db()
    return account_test(account=account)


def jobs_prune(*, now: datetime | None = None) -> int:
    """Delete jobs older than the retention, with their screenshots; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.GEMPOOL_REFRESH_JOB_RETENTION_DAYS)
    old = RefreshJob.objects.filter(started_at__lt=cutoff)
    for name in old.exclude(screenshot="").values_list("screenshot", flat=True):
        (screenshot_dir() / Path(name).name).unlink(missing_ok=True)
    deleted, _ = old.delete()
    # A worker that died mid-attempt leaves its job "running"; once its claim has run out, say so.
    stale = (now or timezone.now()) - timedelta(seconds=settings.GEMPOOL_REFRESH_CLAIM_SECONDS)
    RefreshJob.objects.filter(outcome=JobOutcome.RUNNING, started_at__lt=stale).update(
        outcome=JobOutcome.FAILED, finished_at=timezone.now(), error="the worker stopped during this attempt")
    return deleted
