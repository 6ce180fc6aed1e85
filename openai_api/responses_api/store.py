"""Stored responses: kept per API key for GET/DELETE /v1/responses/{id} and previous_response_id."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from accounts.models import ApiKey
from gempool_site.exceptions import NotFoundError
from openai_api.models import StoredResponse

logger = logging.getLogger(__name__)


def stored_response_get(*, response_id: str, api_key: ApiKey, param: str | None = None) -> StoredResponse:
    """The response this key stored; NotFoundError otherwise (another key's response does not exist for it)."""
    found = StoredResponse.objects.filter(pk=response_id, api_key=api_key).first()
    if found is None:
        what = "Previous response" if param == "previous_response_id" else "Response"
        raise NotFoundError(f"{what} with id {response_id!r} not found.", param=param)
    return found


def stored_response_context(*, response_id: str, api_key: ApiKey) -> list[dict[str, Any]]:
    """The conversation a previous response ended with (its input items and its output), to continue."""
    return stored_response_get(response_id=response_id, api_key=api_key, param="previous_response_id").context


def stored_response_save(*, body: dict[str, Any], context: list[dict[str, Any]], api_key: ApiKey) -> None:
    """Keep a finished response (gempool_site.housekeeping keeps them to their retention)."""
    StoredResponse.objects.create(id=body["id"], api_key=api_key, model=body["model"], body=body, context=context)


def stored_response_delete(*, response_id: str, api_key: ApiKey) -> dict[str, Any]:
    stored_response_get(response_id=response_id, api_key=api_key).delete()
    return {"id": response_id, "object": "response", "deleted": True}


def stored_response_prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete stored responses older than GEMPOOL_RESPONSE_RETENTION_DAYS; returns how many."""
    days = days if days is not None else settings.GEMPOOL_RESPONSE_RETENTION_DAYS
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted, _ = StoredResponse.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        logger.info("pruned stored responses", extra={"deleted": deleted, "retention_days": days})
    return deleted

