"""The account pool's records: seats, API keys, pool-wide settings and the request log."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from gempool_site import rawsql
from gempool_site.fields import EncryptedTextField


class AccountStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COOLING_DOWN = "cooling_down", "Cooling down"
    NEEDS_LOGIN = "needs_login", "Needs login"
    NEEDS_ATTENTION = "needs_attention", "Needs attention"
    DISABLED = "disabled", "Disabled"


class Account(models.Model):
    """One Gemini Enterprise seat: browser cookies + team id, and its runtime health.

    The runtime fields (status, enabled, cooldown, errors, counters, login times) are written only by
    accounts.lifecycle, which owns every state transition.
    """

    label = models.CharField(max_length=100, blank=True)
    team_id = models.CharField("team id (configId)", max_length=255)
    csesidx = models.CharField(max_length=64)
    secure_c_ses = EncryptedTextField("__Secure-C_SES cookie")
    host_c_oses = EncryptedTextField("__Host-C_OSES cookie", blank=True, default="")
    user_agent = models.CharField(max_length=512, blank=True, default="")
    proxy_url = EncryptedTextField("proxy override", blank=True, default="",
                                   help_text="Blank: use the pool's proxy setting.")
    # Nullable without a default, so SQLite adds the column in place: rebuilding the table would drop the
    # lease's hand-written partial index (migration 0004).
    proxy_changed_by = models.CharField(max_length=150, null=True, blank=True, editable=False,
                                        help_text="Who last set the proxy: user:<name> or key:<prefix>.")
    proxy_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(default=True)

    status = models.CharField(max_length=20, choices=AccountStatus.choices, default=AccountStatus.ACTIVE)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    cooldown_streak = models.PositiveIntegerField(default=0, help_text="Rate limits in a row; doubles the cooldown.")
    last_error_kind = models.CharField(max_length=40, blank=True, default="")
    last_error_reason = models.CharField(max_length=500, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The lease order: when the account last served, or, while it rests, when its cooldown ends. Leases take
    # the smallest first, so resting accounts sort behind every ready one (see accounts.pool.lease_select).
    ready_at = models.DateTimeField(null=True, blank=True, editable=False)
    logged_in_at = models.DateTimeField(null=True, blank=True,
                                        help_text="When the current cookies were obtained (the last login).")
    login_expires_at = models.DateTimeField(null=True, blank=True,
                                            help_text="When the current login is expected to expire.")
    attention_reason = models.CharField(max_length=500, blank=True, default="",
                                        help_text="Why a login refresh needs a person (status needs_attention).")
    request_count = models.PositiveBigIntegerField(default=0)
    success_count = models.PositiveBigIntegerField(default=0)
    failure_count = models.PositiveBigIntegerField(default=0)
    # Daily quotas per kind of answer (accounts.quotas): blank = the pool's, 0 = unlimited for this account.
    daily_text_quota = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the pool's quota.")
    daily_image_quota = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the pool's quota.")
    daily_video_quota = models.PositiveIntegerField(null=True, blank=True, help_text="Blank: the pool's quota.")
    # Until when a kind is used up (the next quota reset): the lease skips the account for requests of that
    # kind and still leases it for the others. Written by the life cycle only.
    text_exhausted_until = models.DateTimeField(null=True, blank=True, editable=False)
    image_exhausted_until = models.DateTimeField(null=True, blank=True, editable=False)
    video_exhausted_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["team_id", "csesidx"], name="account_unique_seat"),
        ]
        # Checked by GET /api/config/export (gempool_site.auth): the export carries every account's cookies.
        permissions = [("export_secrets", "Can export the config with account cookies")]
        # The lease query's partial index on (ready_at NULLS FIRST, id) is vendor-specific: migration 0004.

    def __str__(self) -> str:
        return self.label or f"account {self.pk} (csesidx {self.csesidx})"

    @property
    def display_name(self) -> str:
        return str(self)

    def cooldown_remaining(self, now=None) -> float:
        """Seconds until the cooldown ends (0 when none)."""
        if self.cooldown_until is None:
            return 0.0
        return max(0.0, (self.cooldown_until - (now or timezone.now())).total_seconds())


class ApiKey(models.Model):
    """A client key. Only a SHA-256 hash is stored; the prefix helps humans tell keys apart."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, safe to show.")
    key_hash = models.CharField(max_length=64, unique=True)
    is_admin = models.BooleanField(default=False, help_text="May also call the management API (/api).")
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Blank: the GEMPOOL_RATE_LIMIT_PER_MINUTE default (0 = unlimited).")
    # Limits of its own (accounts.key_limits); blank = none. Days are quota days (gempool_site.quota_day).
    allowed_models = models.JSONField(default=list, blank=True,
                                      help_text="Model ids this key may use; empty: every enabled model.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="After this the key is refused (401).")
    daily_request_budget = models.PositiveIntegerField(null=True, blank=True,
                                                       help_text="Requests per quota day; blank: unlimited.")
    daily_token_budget = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Estimated tokens (prompt + completion) per quota day; blank: unlimited.")
    max_concurrent_requests = models.PositiveIntegerField(null=True, blank=True,
                                                          help_text="Requests in flight at once; blank: unlimited.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        # Checked by POST /api/keys and /api/keys/<id>/revoke: a new key is a new way in.
        permissions = [("manage_api_keys", "Can create and revoke API keys")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class PoolSettings(models.Model):
    """Pool-wide settings (a single row): proxy, media links, cooldown policy."""

    proxy_url = EncryptedTextField(blank=True, default="")
    proxy_enabled = models.BooleanField(default=False)
    proxy_changed_by = models.CharField(max_length=150, blank=True, default="", editable=False,
                                        help_text="Who last set the proxy: user:<name> or key:<prefix>.")
    proxy_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    image_base_url = models.URLField(blank=True, default="",
                                     help_text="Base of /image/ links; blank: the request's own host.")
    default_model = models.CharField(
        max_length=100, blank=True, default="",
        help_text="A catalogue model (id or alias) that serves requests naming a model gempool does not know; "
                  "blank: such requests get model_not_found.")
    cooldown_base_seconds = models.PositiveIntegerField(default=60)
    cooldown_max_seconds = models.PositiveIntegerField(default=3600)
    unavailable_rest_seconds = models.PositiveIntegerField(default=15)
    # Answers per account and quota day (accounts.quotas); 0 = unlimited. An account may override each.
    daily_text_quota = models.PositiveIntegerField(default=0, help_text="Answers per account per day; 0 = unlimited.")
    daily_image_quota = models.PositiveIntegerField(default=0,
                                                    help_text="Generated images per account per day; 0 = unlimited.")
    daily_video_quota = models.PositiveIntegerField(default=0,
                                                    help_text="Generated videos per account per day; 0 = unlimited.")
    last_proxy_test_at = models.DateTimeField(null=True, blank=True)
    last_proxy_test_ok = models.BooleanField(null=True, blank=True)
    last_proxy_test_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_proxy_test_error = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "pool settings"
        verbose_name_plural = "pool settings"

    def __str__(self) -> str:
        return "Pool settings"

    @classmethod
    def load(cls) -> PoolSettings:
        """The single row, created with defaults on first use."""
        # Read on every chat completion: plain SQL first (see gempool_site.rawsql), the ORM to create it.
        return _POOL_SETTINGS_ROWS.fetch_one("id = 1") or cls.objects.get_or_create(pk=1)[0]


class RequestLog(models.Model):
    """One /v1 request's outcome, for the dashboard and the request log: no secrets, and no content unless
    the operator turned prompt logging on (GEMPOOL_LOG_PROMPTS)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    endpoint = models.CharField(max_length=40, default="chat")
    model = models.CharField(max_length=100, blank=True, default="")
    stream = models.BooleanField(default=False)
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.PositiveIntegerField()
    attempts = models.PositiveSmallIntegerField(default=1)
    error_kind = models.CharField(max_length=40, blank=True, default="")
    request_id = models.CharField(max_length=40, blank=True, default="")
    tool_calls = models.PositiveSmallIntegerField(default=0, help_text="Tool calls the answer made (emulated).")
    # Usage, estimated as the answer's usage block is (the upstream reports no token counts).
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    attachments = models.PositiveSmallIntegerField(default=0)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to the first output; blank: none.")
    # Nullable (NULL: not kept) so adding it is a plain ALTER TABLE, not a copy of a large log on SQLite.
    prompt_excerpt = models.TextField(null=True, blank=True,
                                      help_text="The start of the last user message (GEMPOOL_LOG_PROMPTS only).")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["account", "created_at"], name="requestlog_account_idx"),
                   models.Index(fields=["api_key", "created_at"], name="requestlog_key_idx"),
                   # The request log's search by request id (exact or prefix, as a range: metering.request_log).
                   models.Index(fields=["request_id"], name="requestlog_request_id_idx")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.endpoint} {self.status_code}"


_POOL_SETTINGS_ROWS = rawsql.ModelRows(PoolSettings)
