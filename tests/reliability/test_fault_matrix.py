"""The fault matrix: every upstream fault, driven through a real gunicorn process and the simulator.

For each fault we check what the client sees (status, envelope, how a stream ends), what happens to the
account in the database, and that the request ends within its deadline. The gateway runs with short
timeouts (conftest: connect 0.5 s, read 1.5 s, failover deadline 2.5 s) so the slow faults cost seconds.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Account, AccountStatus
from tests.polling import success_count, wait_until
from tests.reliability.conftest import FAILOVER_DEADLINE, MARGIN, READ_TIMEOUT, chat, sse_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

REST_SECONDS = 15  # PoolSettings.unavailable_rest_seconds default
COOLDOWN_BASE = 60  # PoolSettings.cooldown_base_seconds default
SLOW = 10  # seconds a "slow" or "hanging" upstream would keep us waiting


@dataclass(frozen=True)
class Fault:
    """How to break one account, and what that account should look like afterwards."""

    sim_fault: str | None  # simulator fault for sim.add_fault, or None when `proxy` breaks it
    state: str  # needs_login | cooldown | rest
    endpoint: str | None = None
    proxy: str | None = None  # fixture name of a loopback URL to use as the account's proxy


# Faults before any output: the client never notices (the next account answers with a 200).
BEFORE_OUTPUT = {
    "getoxsrf_401": Fault("401", "needs_login", endpoint="getoxsrf"),
    "getoxsrf_403": Fault("403", "needs_login", endpoint="getoxsrf"),
    "getoxsrf_302": Fault("302", "needs_login"),
    "jwt_401_every_call": Fault("401", "needs_login"),
    "session_403": Fault("403", "needs_login", endpoint="createSession"),
    "429_before_stream": Fault("429_before", "cooldown"),
    "500": Fault("500", "rest"),
    "503": Fault("503", "rest"),
    "connect_timeout": Fault(None, "rest", proxy="blackhole"),
    "connect_refused": Fault(None, "rest", proxy="refusing_port"),
    "read_timeout_before_first_byte": Fault(f"slow_first_byte={SLOW}", "rest", endpoint="streamAssist"),
}
# Faults after output began: a buffered (non-stream) answer still fails over; a stream cannot.
AFTER_OUTPUT = {
    "429_during_stream": Fault("429_during", "cooldown"),
    "truncated_array": Fault("truncate", "rest"),
    "malformed_element": Fault("malformed", "rest"),
    "read_timeout_mid_stream": Fault(f"hang_mid_stream={SLOW}", "rest"),
}


@pytest.fixture
def two_seats(seat):
    """A (leased first: lowest id, never used) and B."""
    return seat(), seat()


@pytest.fixture
def key(api_key):
    return api_key[1]


def _break(request, sim, account: Account, fault: Fault) -> None:
    if fault.proxy:
        Account.objects.filter(pk=account.pk).update(proxy_url=request.getfixturevalue(fault.proxy))
    else:
        sim.add_fault(fault.sim_fault, csesidx=account.csesidx, count=None, endpoint=fault.endpoint)


def _timed_chat(gateway, key: str, text: str, *, stream: bool) -> tuple[Any, float]:
    started = time.monotonic()
    response = chat(gateway, key, text, stream=stream)
    return response, time.monotonic() - started


def assert_state(account: Account, expected: str) -> None:
    account.refresh_from_db()
    left = (account.cooldown_until - timezone.now()).total_seconds() if account.cooldown_until else 0
    if expected == "needs_login":
        assert account.status == AccountStatus.NEEDS_LOGIN, account.last_error_reason
        assert account.last_error_kind in {"login_required", "auth_expired", "permission_denied"}
    elif expected == "cooldown":
        assert account.status == AccountStatus.COOLING_DOWN and account.last_error_kind == "rate_limited"
        assert COOLDOWN_BASE - 10 < left <= COOLDOWN_BASE
    elif expected == "rest":
        assert account.status == AccountStatus.COOLING_DOWN and account.last_error_kind == "unavailable"
        assert 0 < left <= REST_SECONDS
    else:
        assert expected == "untouched"
        assert account.status == AccountStatus.ACTIVE and account.failure_count == 0
        return
    assert account.failure_count == 1 and account.consecutive_failures == 1
    assert account.success_count == 0


def assert_answered(response, *, stream: bool, text: str) -> None:
    assert response.status_code == 200, response.text
    if not stream:
        assert response.json()["choices"][0]["message"]["content"].endswith(f"You said: {text}")
        return
    events = sse_events(response.content)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("error" not in c for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert content.endswith(f"You said: {text}")
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def assert_envelope(response, status: int, code: str, type_: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["type"]) == (code, type_)
    return error


# Every fault before output in both modes; faults after output only buffered (a stream cannot move: next test).
FAILOVER_CASES = ([pytest.param(name, stream, id=f"{name}-{'stream' if stream else 'complete'}")
                   for name in BEFORE_OUTPUT for stream in (False, True)]
                  + [pytest.param(name, False, id=f"{name}-complete") for name in AFTER_OUTPUT])


@pytest.mark.parametrize(("name", "stream"), FAILOVER_CASES)
def test_a_broken_account_is_skipped_and_the_next_one_answers(request, fast_gateway, key, sim, two_seats,
                                                              name, stream):
    fault = BEFORE_OUTPUT.get(name) or AFTER_OUTPUT[name]
    broken, healthy = two_seats
    _break(request, sim, broken, fault)
    response, took = _timed_chat(fast_gateway, key, "failover", stream=stream)
    assert_answered(response, stream=stream, text="failover")
    assert_state(broken, fault.state)
    assert wait_until(lambda: success_count(healthy) == 1, 5) is not None  # written once the answer is out
    healthy.refresh_from_db()
    assert (healthy.status, healthy.success_count, healthy.failure_count) == (AccountStatus.ACTIVE, 1, 0)
    assert took < FAILOVER_DEADLINE + MARGIN
    if name == "jwt_401_every_call":
        # The refused JWT was replaced once (a second getoxsrf) and the retry refused too, then we moved on.
        assert sim.stats()["by_account"][broken.csesidx]["getoxsrf"] == 2


@pytest.mark.parametrize("name", list(AFTER_OUTPUT))
def test_a_failure_after_output_ends_the_stream_with_an_error_event_and_done(request, fast_gateway, key, sim,
                                                                              two_seats, name):
    fault = AFTER_OUTPUT[name]
    broken, untouched = two_seats
    _break(request, sim, broken, fault)
    response, took = _timed_chat(fast_gateway, key, "a longer answer that breaks", stream=True)
    assert response.status_code == 200  # the 200 went out with the first byte
    events = sse_events(response.content)
    assert events[-1] == "[DONE]"
    error = json.loads(events[-2])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == "upstream_error" and "incomplete" in error["message"]
    chunks = [json.loads(e) for e in events[:-2]]
    assert any(c["choices"][0]["delta"].get("content") for c in chunks), "output had begun"
    assert not any(c["choices"][0].get("finish_reason") for c in chunks), "no fake 'stop' before the error"
    assert_state(broken, fault.state)
    assert_state(untouched, "untouched")
    assert untouched.request_count == 0  # never switched accounts mid-answer
    limit = READ_TIMEOUT if "timeout" in name else 0
    assert took < limit + MARGIN


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("directive", "status", "code", "type_"), [
    ("429_before", 429, "all_accounts_cooling_down", "rate_limit_error"),
    ("500", 429, "all_accounts_cooling_down", "rate_limit_error"),  # both rest: the soonest comes back first
    ("400", 400, "upstream_invalid_request", "invalid_request_error"),
    (f"slow_first_byte={SLOW}", 504, "upstream_timeout", "server_error"),
])
def test_when_every_account_fails_the_client_gets_one_enveloped_error_in_time(fast_gateway, key, two_seats,
                                                                             directive, status, code, type_,
                                                                             stream):
    response, took = _timed_chat(fast_gateway, key, f"[[sim:{directive}]] anyone?", stream=stream)
    error = assert_envelope(response, status, code, type_)
    assert error["message"]
    if status == 429:
        assert 1 <= int(response.headers["Retry-After"]) <= COOLDOWN_BASE
    if status == 400:
        for account in two_seats:  # the request's fault: nobody is penalised, nobody else is tried
            assert_state(account, "untouched")
    assert took < FAILOVER_DEADLINE + MARGIN, f"{took:.2f}s past a {FAILOVER_DEADLINE}s deadline"


def test_a_slow_first_byte_cannot_keep_the_worker_past_the_deadline(fast_gateway, key, sim, seat):
    """Each attempt's upstream timeouts shrink to the time left, so the run itself ends by the deadline."""
    accounts = [seat() for _ in range(3)]
    for account in accounts:
        sim.add_fault(f"slow_first_byte={SLOW}", csesidx=account.csesidx, endpoint="streamAssist", count=None)
    response, took = _timed_chat(fast_gateway, key, "patience", stream=True)
    assert_envelope(response, 504, "upstream_timeout", "server_error")
    assert FAILOVER_DEADLINE - 0.5 < took < FAILOVER_DEADLINE + MARGIN
    assert sim.stats()["requests"]["streamAssist"] == 2  # 1.5 s for the first, the last second for the next
