"""The chat run holds no database connection while it waits on the upstream (failover included)."""
from __future__ import annotations

import json

import pytest
from django.db import connections
from django.test import RequestFactory
from django.urls import resolve

from gemini_enterprise.client import GeminiClient
from openai_api.chat import ChatRun
from openai_api.run_events import Delta, Failed, Finished, Opened
from openai_api.serializers import parse_chat_request
from openai_api.services import chat_plan_build
from tests.garbage import cyclic_garbage_of, request_objects

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]


def _holding_a_connection() -> list[str]:
    """This thread's connections that are open outside a transaction (inside one they cannot be given back)."""
    return [c.alias for c in connections.all(initialized_only=True)
            if c.connection is not None and not c.in_atomic_block]


@pytest.fixture
def upstream_calls_check_connections(monkeypatch):
    """Record, at each upstream call that may wait long, whether this thread still held a connection."""
    held: list[tuple[str, list[str]]] = []
    for name in ("create_session", "stream_assist"):
        original = getattr(GeminiClient, name)

        def spy(self, *args, _original=original, _name=name, **kwargs):
            held.append((_name, _holding_a_connection()))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(GeminiClient, name, spy)
    return held


PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
       "AAAABJRU5ErkJggg==")


def _plan(api_key_record, content):
    data = parse_chat_request({"model": "gemini-2.5-flash", "stream": True,
                               "messages": [{"role": "user", "content": content}]})
    return chat_plan_build(data=data, api_key=api_key_record,
                           request_base_url=lambda: "http://testserver/")


def _run_checking_each_event(plan) -> tuple[ChatRun, list]:
    run = ChatRun(plan, buffered=False)
    seen = []
    for event in run.events():  # each event goes to the client, who may take its time: nothing may be held
        assert _holding_a_connection() == [], event
        seen.append(event)
    return run, seen


def test_no_connection_is_held_during_an_upstream_wait_even_across_a_failover(
        api_key, pool_account, sim, upstream_settings, upstream_calls_check_connections, settings):
    settings.GEMPOOL_SPARE_SESSION_MAX_AGE = 0  # every attempt creates its session: one more upstream wait
    refusing = pool_account()  # leased first (lowest id, never used): answers 429, so the run fails over
    pool_account()
    sim.add_fault("429_before", csesidx=refusing.csesidx, count=None)
    run, seen = _run_checking_each_event(_plan(api_key[0], "hello"))
    assert isinstance(seen[-1], Finished) and run.attempts == 2
    assert any(isinstance(event, Opened) for event in seen) and any(isinstance(event, Delta) for event in seen)
    calls = upstream_calls_check_connections
    assert [name for name, _ in calls].count("create_session") == 2  # the refused attempt got this far
    assert all(held == [] for _, held in calls), calls


def test_no_connection_is_held_when_an_attachment_was_looked_up_before_the_answer(
        api_key, pool_account, upstream_settings, upstream_calls_check_connections):
    pool_account()
    plan = _plan(api_key[0], [{"type": "text", "text": "What is this?"},
                              {"type": "image_url", "image_url": {"url": PNG}}])
    assert plan.stored_files
    _, seen = _run_checking_each_event(plan)
    assert isinstance(seen[-1], Finished)
    assert [held for name, held in upstream_calls_check_connections if name == "stream_assist"] == [[]]


def test_no_connection_is_held_when_a_failure_mid_answer_ends_the_stream(
        api_key, pool_account, upstream_settings, upstream_calls_check_connections):
    pool_account()
    _, seen = _run_checking_each_event(_plan(api_key[0], "[[sim:fault=429_during]] a long answer"))
    assert isinstance(seen[-1], Failed) and seen[-1].code == "upstream_error"


def test_no_connection_is_held_when_every_account_is_cooling_down(api_key, pool_account, sim, upstream_settings):
    account = pool_account()
    sim.add_fault("429_before", csesidx=account.csesidx, count=None)
    _, seen = _run_checking_each_event(_plan(api_key[0], "hello"))
    assert isinstance(seen[-1], Failed) and seen[-1].code == "all_accounts_cooling_down"


def test_a_streamed_chat_leaves_no_view_request_or_serializer_for_the_garbage_collector(
        api_key, pool_account, sim, upstream_settings):
    """They live through the upstream wait, so by the time they are garbage they would have aged into the
    collector's oldest generation (gempool_site/v1.py): the stream must free them itself."""
    pool_account()
    view = resolve("/v1/chat/completions").func
    body = json.dumps({"model": "gemini-2.5-flash", "stream": True,
                       "messages": [{"role": "user", "content": "Say hello."}]})

    def stream_once() -> None:
        request = RequestFactory().post("/v1/chat/completions", data=body, content_type="application/json",
                                        HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
        response = view(request)
        assert response.status_code == 200
        streamed = b"".join(response.streaming_content)
        assert b"[DONE]" in streamed and b'"content"' in streamed
        response.close()

    stream_once()
    assert request_objects(cyclic_garbage_of(stream_once)) == []
