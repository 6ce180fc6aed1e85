"""SpareSessions: one unused upstream session per account, created ahead of the request that needs it.

Every completion needs a session of its own (widgetCreateSession), a whole upstream round trip before the
question can even be sent. Creating the next one in the background as soon as an account starts answering
takes that round trip off the next request's path; each session still serves exactly one request. A request
that arrives while its account's spare is still being made waits for that one (`take(wait=…)`) instead of
making a second: the one in flight started earlier, so it is never the slower of the two (clients that
send their next request the moment an answer ends, one account, bench/ttft_probe.py). Only one request
waits for it: the spare will serve one, and any other would only have waited to make its own session
later (a burst of requests on one account).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gemini_enterprise.errors import UpstreamError
from gemini_enterprise.types import Credentials

logger = logging.getLogger(__name__)


class SpareSessions:
    """At most one spare session per account, handed out once, never older than `max_age` seconds."""

    def __init__(self, create: Callable[[Credentials], str], *, max_age: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._create = create
        self._max_age = max_age
        self._clock = clock
        self._spares: dict[tuple[str, str], tuple[str, float]] = {}
        self._pending: dict[tuple[str, str], _InFlight] = {}
        self._lock = threading.Lock()

    def take(self, creds: Credentials, *, wait: float = 0.0) -> str | None:
        """The account's spare session (now no longer spare), or None if there is none fresh enough.

        If the account's spare is being made right now and no other request waits for it, wait up to `wait`
        seconds for it."""
        key = _key(creds)
        in_flight = None
        with self._lock:
            spare = self._spares.pop(key, None)
            if spare is None and wait > 0:
                pending = self._pending.get(key)
                if pending is not None and not pending.claimed:
                    pending.claimed = True
                    in_flight = pending
        if in_flight is not None and in_flight.ended.wait(wait):
            with self._lock:
                spare = self._spares.pop(key, None)
        if spare is None or self._clock() - spare[1] > self._max_age:
            return None
        return spare[0]

    def refill(self, creds: Credentials) -> None:
        """Create the account's next spare on a background thread, unless one exists or is on its way."""
        key = _key(creds)
        with self._lock:
            if key in self._spares or key in self._pending:
                return
            self._pending[key] = _InFlight()
        threading.Thread(target=self._create_spare, args=(creds, key), name="spare-session",
                         daemon=True).start()

    def discard(self, creds: Credentials) -> None:
        """Forget the account's spare (its cookies failed: a session made with them is suspect too)."""
        with self._lock:
            self._spares.pop(_key(creds), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._spares)

    def _create_spare(self, creds: Credentials, key: tuple[str, str]) -> None:
        session = None
        try:
            session = self._create(creds)
        except UpstreamError as error:
            # Speculative work: the next request finds no spare, creates its session itself and meets the
            # same error there, where failover and the account's health are handled.
            logger.info("spare session not created", extra={"account": creds.key, "kind": error.kind})
        finally:
            with self._lock:
                if session is not None:
                    self._spares[key] = (session, self._clock())
                in_flight = self._pending.pop(key)
            in_flight.ended.set()


class _InFlight:
    """A spare being made: set once its creation has ended; claimed by the one request that waits for it."""

    __slots__ = ("claimed", "ended")

    def __init__(self) -> None:
        self.ended = threading.Event()
        self.claimed = False


def _key(creds: Credentials) -> tuple[str, str]:
    # The team is part of the key: a session belongs to one configId.
    return creds.key, creds.team_id
