"""Spare sessions through the gateway: the next request skips widgetCreateSession, and an expired spare
costs nothing but a new session."""
from __future__ import annotations

import time

import pytest

from accounts.models import AccountStatus
from tests.polling import success_count, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]


def _ask(client, text: str):
    return client.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": text}])


def _wait_for_spare(sim) -> None:
    """Until the gateway holds a spare: the simulator counts the call when it arrives, and the gateway
    keeps the session once the answer is back, a moment later."""
    assert wait_until(lambda: sim.stats()["requests"].get("createSession") == 2, 5) is not None, (
        f"the gateway never asked for a spare session: {sim.stats()['requests']}")  # the answer's, then the spare
    # A grace, not a wait on a condition: the spare lives in the gunicorn worker's memory, which nothing outside
    # the process can observe; it is stored milliseconds after the simulator counted the call.
    time.sleep(1.0)


def test_the_next_request_uses_the_session_made_ahead(openai_client, pool_account, sim):
    pool_account()
    # The simulator keeps sessions across tests (reset() clears counters only), and an earlier test may
    # rightly have used one twice (a tool call asked for again in the same session): count from here.
    reused = sim.stats()["sessions_reused"]
    _ask(openai_client, "first")
    _wait_for_spare(sim)
    # A fault on the next widgetCreateSession would fail a request that made its own session.
    sim.add_fault("500", endpoint="createSession", count=1)
    assert _ask(openai_client, "second").choices[0].message.content
    assert sim.stats()["sessions_reused"] == reused


def test_an_expired_spare_is_replaced_without_failing_over_or_blaming_the_account(
        openai_client, pool_account, sim):
    account = pool_account()
    _ask(openai_client, "first")
    _wait_for_spare(sim)
    sim.add_fault("404_session", endpoint="streamAssist", count=1)  # as if the spare had expired upstream
    assert _ask(openai_client, "second").choices[0].message.content
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE and account.failure_count == 0
    assert wait_until(lambda: success_count(account) == 2, 5) is not None


def test_a_request_that_comes_while_its_spare_is_being_made_waits_for_it(openai_client, pool_account, sim):
    """One account, streams asked one after the other the moment the last one ended (as the openai SDK does):
    the spare for the next request is made while the answer streams, and a request that comes before it is
    ready waits for it instead of making a session of its own."""
    pool_account()
    reused_before = sim.stats()["sessions_reused"]  # the simulator serves earlier tests too
    # The spare made during the first stream takes long enough to still be on its way when the next comes.
    sim.add_fault("slow_first_byte:2", endpoint="createSession", count=2)
    _stream(openai_client, "first")
    # The first stream's own session, and the spare: asked for on a thread of its own, which may not have
    # been scheduled yet when a stream whose fragments all came at once has ended.
    assert wait_until(lambda: sim.stats()["requests"].get("createSession") == 2, 5) is not None
    # A session this request made itself would fail, and with one account so would the request.
    sim.add_fault("500", endpoint="createSession", count=1)
    assert _stream(openai_client, "second")  # a session of its own would have met the 500 (and failed)
    assert sim.stats()["sessions_reused"] == reused_before


def _stream(client, text: str) -> str:
    stream = client.chat.completions.create(model="gemini-2.5-flash", stream=True,
                                            messages=[{"role": "user", "content": text}])
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
