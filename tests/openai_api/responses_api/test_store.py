"""Stored responses: scoped to the key that made them, pruned past the retention."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import api_key_create
from gempool_site.exceptions import NotFoundError
from openai_api.models import StoredResponse
from openai_api.responses_api import store

pytestmark = pytest.mark.django_db


def _save(key, response_id="resp_1"):
    store.stored_response_save(body={"id": response_id, "model": "m", "output": []},
                               context=[{"type": "message"}], api_key=key)


def test_another_key_cannot_see_continue_or_delete_a_response(api_key):
    _save(api_key[0])
    other, _ = api_key_create(name="other")
    with pytest.raises(NotFoundError, match="Response with id 'resp_1' not found"):
        store.stored_response_get(response_id="resp_1", api_key=other)
    with pytest.raises(NotFoundError, match="Previous response") as caught:
        store.stored_response_context(response_id="resp_1", api_key=other)
    assert caught.value.param == "previous_response_id"
    with pytest.raises(NotFoundError):
        store.stored_response_delete(response_id="resp_1", api_key=other)
    assert store.stored_response_context(response_id="resp_1", api_key=api_key[0]) == [{"type": "message"}]


def test_delete_answers_openai_shape_and_removes_the_row(api_key):
    _save(api_key[0])
    assert store.stored_response_delete(response_id="resp_1", api_key=api_key[0]) == {
        "id": "resp_1", "object": "response", "deleted": True}
    assert not StoredResponse.objects.exists()


def test_responses_past_the_retention_are_pruned(api_key, settings):
    settings.GEMPOOL_RESPONSE_RETENTION_DAYS = 30
    _save(api_key[0], "resp_old")
    _save(api_key[0], "resp_new")
    StoredResponse.objects.filter(pk="resp_old").update(created_at=timezone.now() - timedelta(days=31))
    assert store.stored_response_prune() == 1
    assert list(StoredResponse.objects.values_list("pk", flat=True)) == ["resp_new"]


def test_deleting_the_key_deletes_its_responses(api_key):
    _save(api_key[0])
    api_key[0].delete()
    assert not StoredResponse.objects.exists()


def test_the_pruneresponses_command_takes_a_retention(api_key):
    from io import StringIO

    from django.core.management import CommandError, call_command

    _save(api_key[0], "resp_old")
    StoredResponse.objects.update(created_at=timezone.now() - timedelta(days=3))
    out = StringIO()
    call_command("pruneresponses", "--days", "2", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 stored response(s)." and not StoredResponse.objects.exists()
    with pytest.raises(CommandError):
        call_command("pruneresponses", "--days", "-1")
