"""The hot paths run a fixed, small number of queries: pinned here so they cannot creep up."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from openai_api.chat import ChatRun
from openai_api.run_events import Finished
from openai_api.serializers import parse_chat_request
from openai_api.services import chat_plan_build

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue", "pool_settings_row")]
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@pytest.fixture
def pool_settings_row():
    from accounts.models import PoolSettings

    # (Periodic housekeeping is not per-request cost: tests/settings.py turns its automatic run off.)
    return PoolSettings.load()  # exists after the first request of any real deployment


def _data_statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].upper().startswith(TRANSACTION_CONTROL)]


def _plan(api_key_record, text="count my queries"):
    data = parse_chat_request({"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": text}]})
    return chat_plan_build(data=data, api_key=api_key_record,
                           request_base_url=lambda: "http://testserver/")


def test_model_list_takes_three_queries_whatever_the_catalogue_size(client, api_key, django_assert_num_queries):
    from models_catalog.models import ModelAlias

    for alias, model in (("gpt-4o", "gemini-2.5-pro"), ("claude-sonnet-4-5", "gemini-2.5-pro"),
                         ("gpt-4o-mini", "gemini-2.5-flash")):
        ModelAlias.objects.create(alias=alias, model_id=model)
    record, raw = api_key
    client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")  # first use reads the key, stamps last_used_at
    with django_assert_num_queries(2):  # the models, their aliases (the key is kept: gempool_site.hot_rows)
        response = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and len(response.json()["data"]) == 8 + 3


def test_planning_a_chat_takes_two_queries_then_none_while_the_rows_are_kept(api_key):
    with CaptureQueriesContext(connection) as captured:
        _plan(api_key[0])
    assert len(_data_statements(captured)) == 2, captured.captured_queries  # the model, the pool settings
    with CaptureQueriesContext(connection) as captured:
        _plan(api_key[0])
    assert _data_statements(captured) == []  # both kept for GEMPOOL_HOT_ROWS_SECONDS


@pytest.mark.parametrize("accounts", [1, 20])
def test_running_a_chat_takes_a_fixed_number_of_queries(api_key, pool_account, upstream_settings, accounts):
    for _ in range(accounts):
        pool_account()
    run = ChatRun(_plan(api_key[0]), buffered=True)
    with CaptureQueriesContext(connection) as captured:
        events = list(run.events())  # on this thread, so this thread's connection sees every query
    assert isinstance(events[-1], Finished)
    # the lease (PostgreSQL: one statement picks and stamps; SQLite: SELECT, then UPDATE in one write
    # transaction), the success report, the request log, its attempt rows (one INSERT), the day's usage, the
    # hour's usage with its latency buckets; the pool settings came with the plan
    lease = 1 if connection.vendor == "postgresql" else 2
    assert len(_data_statements(captured)) == lease + 5, captured.captured_queries
