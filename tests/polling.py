"""Waiting for what a gateway process writes after its answer is out (bookkeeping follows the response)."""
from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.02) -> float | None:
    """Seconds until check() held, or None if it never did within timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(interval)
    return None


def success_count(account) -> int:
    """The account's success counter as stored now."""
    return type(account).objects.values_list("success_count", flat=True).get(pk=account.pk)
