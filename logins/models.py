"""Re-login records: the mailboxes the one-time codes arrive in, each account's login profile, and jobs."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import Account
from gempool_site.fields import EncryptedTextField


class MailboxKind(models.TextChoices):
    IMAP_PASSWORD = "imap_password", "IMAP with a password"
    MICROSOFT_OAUTH = "microsoft_oauth", "Microsoft (OAuth refresh token, XOAUTH2)"


class MailboxSecurity(models.TextChoices):
    TLS = "tls", "TLS (IMAPS, usually port 993)"
    STARTTLS = "starttls", "STARTTLS (usually port 143)"


class Mailbox(models.Model):
    """An IMAP mailbox the operator owns: one address, or a catch-all that receives many addresses."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=MailboxKind.choices, default=MailboxKind.IMAP_PASSWORD)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=993)
    security = models.CharField(max_length=10, choices=MailboxSecurity.choices, default=MailboxSecurity.TLS)
    verify_tls = models.BooleanField(default=True, help_text="Off only for a server with a self-signed certificate.")
    username = models.CharField(max_length=255, help_text="The IMAP login (usually the address).")
    password = EncryptedTextField(blank=True, default="", help_text="IMAP password (kind imap_password).")
    oauth_client_id = models.CharField(max_length=255, blank=True, default="")
    oauth_refresh_token = EncryptedTextField(blank=True, default="")
    oauth_tenant = models.CharField(max_length=100, blank=True, default="consumers",
                                    help_text="consumers, organizations, common or a tenant id.")
    folders = models.CharField(max_length=255, default="INBOX,Junk",
                               help_text="Searched in this order; a folder the server lacks is skipped.")
    catch_all = models.BooleanField(default=False,
                                    help_text="Receives mail for many addresses: codes are matched by recipient.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "mailboxes"

    def __str__(self) -> str:
        return self.name

    @property
    def folder_list(self) -> list[str]:
        return [name.strip() for name in self.folders.split(",") if name.strip()]


class LoginProfile(models.Model):
    """How an account logs in again (its address and mailbox) and the refresh schedule's own bookkeeping.

    The account's state (cookies, status, expiry) is written by accounts.lifecycle only; these fields
    belong to the refresh worker: when it may try next, who holds the account, what the trial says.
    """

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="login_profile")
    email = models.EmailField(max_length=254)
    mailbox = models.ForeignKey(Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="profiles",
                                help_text="Blank: no automatic re-login (paste cookies by hand).")
    failure_streak = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Backoff after a failed attempt.")
    refresh_requested_at = models.DateTimeField(null=True, blank=True, help_text='An operator asked: "refresh now".')
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    trial_days_left = models.PositiveIntegerField(null=True, blank=True)
    trial_read_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id"]

    def __str__(self) -> str:
        return f"login of {self.account}"


class JobTrigger(models.TextChoices):
    EXPIRING = "expiring", "Login expiring"
    NEEDS_LOGIN = "needs_login", "Needs login"
    MANUAL = "manual", "Refresh now"


class JobOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (will retry)"
    HARD_STOP = "hard_stop", "Needs a person"


class RefreshJob(models.Model):
    """One re-login attempt: what started it, how far it got, and what the page showed when it stopped."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="refresh_jobs")
    trigger = models.CharField(max_length=20, choices=JobTrigger.choices)
    worker = models.CharField(max_length=100, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=JobOutcome.choices, default=JobOutcome.RUNNING)
    step = models.CharField(max_length=40, blank=True, default="", help_text="The last step reached.")
    error = models.CharField(max_length=1000, blank=True, default="")
    page_url = models.CharField(max_length=1000, blank=True, default="")
    page_title = models.CharField(max_length=300, blank=True, default="")
    screenshot = models.CharField(max_length=255, blank=True, default="",
                                  help_text="File name under the data dir's login-screenshots/.")
    new_login_expires_at = models.DateTimeField(null=True, blank=True, help_text="The expiry of the login it obtained.")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["account", "started_at"], name="refreshjob_account_idx")]

    def __str__(self) -> str:
        return f"refresh of {self.account_id} at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.outcome})"
