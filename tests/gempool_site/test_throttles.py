"""The one counter behind every throttle: atomic under concurrency, windows that roll over."""
from __future__ import annotations

import threading

import pytest
from django.core.cache import cache

from gempool_site.throttles import FixedWindow


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def test_concurrent_hits_are_all_counted():
    window = FixedWindow("test-atomic", 3600)
    start = threading.Barrier(8)

    def hammer() -> None:
        start.wait()
        for _ in range(200):
            window.hit("same", now=1000.0)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert window.count("same", now=1000.0) == 1600


def test_a_new_window_starts_from_zero():
    window = FixedWindow("test-roll", 60)
    assert window.hit("k", now=120.0) == 1
    assert window.hit("k", 4, now=179.0) == 5
    assert window.count("k", now=180.0) == 0
    assert window.counts(["k", "other"], now=150.0) == [5, 0]


def test_seconds_left_counts_to_the_end_of_the_window():
    window = FixedWindow("test-left", 60)
    assert window.seconds_left(now=120.0) == 60
    assert window.seconds_left(now=179.5) == 1


def test_a_counter_evicted_mid_window_starts_again():
    window = FixedWindow("test-evict", 60)
    window.hit("k", now=60.0)
    cache.clear()
    assert window.hit("k", 2, now=61.0) == 2
