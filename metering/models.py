"""What each request did and cost: its upstream attempts, and usage rolled up per day (and per hour, with
latency buckets), key and model."""
from __future__ import annotations

from django.db import models

from accounts.models import Account, RequestLog
from metering import histogram


class AttemptOutcome(models.TextChoices):
    OK = "ok", "Answered"
    ERROR = "error", "Upstream error"
    CLIENT_CLOSED = "client_closed", "Client went away"
    CRASHED = "crashed", "Gateway error"


class RequestAttempt(models.Model):
    """One upstream attempt of a request, accounted to the account that made it.

    A request that failed over has one row per account it tried; the per-account figures on every page
    (requests, errors, latency) are counted from these rows, never from the request log's final account.
    """

    request = models.ForeignKey(RequestLog, on_delete=models.CASCADE, related_name="upstream_attempts")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    error_kind = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [models.Index(fields=["account", "started_at"], name="attempt_account_idx"),
                   models.Index(fields=["started_at"], name="attempt_started_idx")]

    def __str__(self) -> str:
        return f"attempt of request {self.request_id} on account {self.account_id}: {self.outcome}"


class UsageDay(models.Model):
    """Usage per day (UTC), key and model, added to by every request in its bookkeeping transaction.

    It outlives the request log's retention, and the usage page reads days x keys x models rows instead of
    every request. `api_key_id` is a plain number (0: no key) so the upsert's unique key never holds a NULL
    and a deleted key's history stays.
    """

    day = models.DateField()
    api_key_id = models.BigIntegerField(default=0)
    model = models.CharField(max_length=100)
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    attachments = models.PositiveBigIntegerField(default=0)
    latency_ms_total = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day", "api_key_id", "model"]
        constraints = [models.UniqueConstraint(fields=["day", "api_key_id", "model"], name="usage_day_unique")]

    def __str__(self) -> str:
        return f"{self.day} key {self.api_key_id} {self.model}: {self.requests} requests"


class UsageHour(models.Model):
    """Requests, errors and latency buckets per hour (UTC), key and model, added to by each batch of finished
    requests (one upsert per hour, key and model: metering.records), for the dashboard's ranges of a day and
    longer.

    Latency and time to the first token are kept as counts per fixed bucket (metering.histogram), so a
    percentile over 30 days sums a few hundred rows instead of reading every request. Only requests that
    had a first token (streams that sent one) count in a TTFT bucket. Kept GEMPOOL_USAGE_HOUR_RETENTION_DAYS.
    """

    hour = models.DateTimeField()
    api_key_id = models.BigIntegerField(default=0)  # 0: no key; a plain number, as in UsageDay
    model = models.CharField(max_length=100)
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    latency_ms_total = models.PositiveBigIntegerField(default=0)
    # latency_b00..b20 and ttft_b00..b20, one column per histogram bucket: added below the class

    class Meta:
        ordering = ["hour", "api_key_id", "model"]
        constraints = [models.UniqueConstraint(fields=["hour", "api_key_id", "model"], name="usage_hour_unique")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 key {self.api_key_id} {self.model}: {self.requests} requests"


for _column in (*histogram.LATENCY_COLUMNS, *histogram.TTFT_COLUMNS):
    # db_default: an upsert names only the latency and TTFT buckets its requests fell in.
    UsageHour.add_to_class(_column, models.PositiveBigIntegerField(default=0, db_default=0))
