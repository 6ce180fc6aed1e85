"""Responses kept for GET /v1/responses/{id} and previous_response_id (Responses API, `store` not false)."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

from accounts.models import ApiKey


class StoredResponse(models.Model):
    """One finished Responses API answer, visible only to the API key that created it.

    `body` is the response object exactly as the client received it; `context` is the whole conversation
    up to and including its output (as Responses input items), which a follow-up request with
    previous_response_id continues. Kept GEMPOOL_RESPONSE_RETENTION_DAYS.
    """

    id = models.CharField(max_length=64, primary_key=True)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    model = models.CharField(max_length=100)
    body = models.JSONField()
    context = models.JSONField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.id
