"""SpareSessions: each spare is handed out once, refilled in the background, and never too old."""
from __future__ import annotations

import threading

from gemini_enterprise.errors import RateLimited
from gemini_enterprise.spares import SpareSessions
from gemini_enterprise.types import Credentials
from tests.polling import wait_until

CREDS = Credentials(key="acct-1", team_id="team-1", csesidx="1", secure_c_ses="s", host_c_oses="h")
OTHER_TEAM = Credentials(key="acct-1", team_id="team-2", csesidx="1", secure_c_ses="s", host_c_oses="h")


class FakeCreate:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.error = error
        self.done = threading.Event()

    def __call__(self, creds: Credentials) -> str:
        self.calls += 1
        try:
            if self.error:
                raise self.error
            return f"sessions/{creds.key}/{self.calls}"
        finally:
            self.done.set()


def _refilled(spares: SpareSessions, create: FakeCreate, creds: Credentials = CREDS) -> None:
    """Refill, then wait for the background thread to end: it stores the session (or clears its pending mark
    after a failure) just after create() returns."""
    create.done.clear()
    running = set(threading.enumerate())
    spares.refill(creds)
    assert create.done.wait(5), "refill() never called create()"
    for thread in set(threading.enumerate()) - running:
        if thread.name == "spare-session":
            thread.join(5)
            assert not thread.is_alive(), "the refill thread was still running 5 s after create() returned"


def test_a_refilled_spare_is_handed_out_exactly_once():
    create = FakeCreate()
    spares = SpareSessions(create, max_age=60)
    assert spares.take(CREDS) is None
    _refilled(spares, create)
    assert spares.take(CREDS) == "sessions/acct-1/1"
    assert spares.take(CREDS) is None


def test_refill_does_nothing_while_a_spare_is_waiting():
    create = FakeCreate()
    spares = SpareSessions(create, max_age=60)
    _refilled(spares, create)
    spares.refill(CREDS)
    assert create.calls == 1


def test_a_spare_older_than_max_age_is_not_used():
    now = [100.0]
    create = FakeCreate()
    spares = SpareSessions(create, max_age=30, clock=lambda: now[0])
    _refilled(spares, create)
    now[0] += 31
    assert spares.take(CREDS) is None


def test_spares_belong_to_one_team_and_can_be_discarded():
    create = FakeCreate()
    spares = SpareSessions(create, max_age=60)
    _refilled(spares, create)
    assert spares.take(OTHER_TEAM) is None
    spares.discard(CREDS)
    assert spares.take(CREDS) is None


def test_a_failed_refill_leaves_no_spare_and_allows_another_try():
    create = FakeCreate(error=RateLimited("slow down", status=429))
    spares = SpareSessions(create, max_age=60)
    _refilled(spares, create)
    assert spares.take(CREDS) is None
    create.error = None
    _refilled(spares, create)
    assert spares.take(CREDS) == "sessions/acct-1/2"


class BlockedCreate(FakeCreate):
    """create() that waits until released, so a spare stays 'being made' as long as a test needs."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__(error)
        self.release = threading.Event()
        self.started = threading.Event()

    def __call__(self, creds: Credentials) -> str:
        self.started.set()
        assert self.release.wait(5)
        return super().__call__(creds)


def _take_in_thread(spares: SpareSessions, wait: float) -> tuple[threading.Thread, list]:
    got: list = []
    thread = threading.Thread(target=lambda: got.append(spares.take(CREDS, wait=wait)))
    thread.start()
    return thread, got


def test_take_waits_for_the_spare_being_made_instead_of_missing_it():
    create = BlockedCreate()
    spares = SpareSessions(create, max_age=60)
    spares.refill(CREDS)
    assert create.started.wait(5)
    thread, got = _take_in_thread(spares, wait=5)
    create.release.set()
    thread.join(5)
    assert got == ["sessions/acct-1/1"]
    assert create.calls == 1 and len(spares) == 0  # handed out once, not kept as spare too


def test_take_without_wait_does_not_wait_for_a_spare_being_made():
    create = BlockedCreate()
    spares = SpareSessions(create, max_age=60)
    spares.refill(CREDS)
    assert create.started.wait(5)
    assert spares.take(CREDS) is None
    create.release.set()


def test_a_spare_that_fails_while_waited_for_ends_the_wait_with_none():
    create = BlockedCreate(error=RateLimited("slow down", status=429))
    spares = SpareSessions(create, max_age=60)
    spares.refill(CREDS)
    assert create.started.wait(5)
    thread, got = _take_in_thread(spares, wait=30)
    create.release.set()
    thread.join(5)
    assert not thread.is_alive() and got == [None]


def test_only_one_request_waits_for_a_spare_being_made_the_others_make_their_own_at_once():
    create = BlockedCreate()
    spares = SpareSessions(create, max_age=60)
    spares.refill(CREDS)
    assert create.started.wait(5)
    takers = [_take_in_thread(spares, wait=30) for _ in range(2)]
    # The spare will serve one of them: the other is told at once that there is none for it.
    assert wait_until(lambda: any(got for _, got in takers), timeout=5) is not None
    assert [got for _, got in takers if got] == [[None]]
    create.release.set()
    for thread, _ in takers:
        thread.join(5)
    assert sorted(got[0] or "" for _, got in takers) == ["", "sessions/acct-1/1"]
