"""Delayed calls on OS threads, and under gevent on the event loop's own timers."""
from __future__ import annotations

import textwrap
import threading
import time

from gempool_site.event_loop import call_later, under_gevent
from tests.script_run import assert_script_prints_ok


def test_outside_gevent_a_call_runs_once_its_time_has_passed_on_a_thread_of_its_own():
    ran = threading.Event()
    callers = []
    started = time.monotonic()
    call_later(0.05, lambda: (callers.append(threading.current_thread()), ran.set()))
    assert ran.wait(5)
    assert time.monotonic() - started >= 0.045
    assert callers == [callers[0]] and callers[0] is not threading.current_thread()
    assert not under_gevent()


def test_outside_gevent_a_cancelled_call_never_runs():
    ran = threading.Event()
    cancel = call_later(0.05, ran.set)
    cancel()
    assert not ran.wait(0.3)


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import socket, threading, time
    import gevent
    from gempool_site.event_loop import call_later, under_gevent

    assert under_gevent()
    loop = gevent.get_hub().loop
    threads_before = threading.active_count()
    watchers_before = loop.activecnt

    # It runs once, after its time, in the loop's greenlet, and starts no thread (monkey-patched threads are
    # greenlets, counted by threading too).
    ran = []
    started = time.monotonic()
    call_later(0.1, lambda: ran.append((time.monotonic() - started, gevent.getcurrent())))
    assert threading.active_count() == threads_before
    while not ran:
        gevent.sleep(0.01)
    elapsed, runner = ran[0]
    assert elapsed >= 0.095, elapsed
    assert runner is gevent.get_hub(), runner
    gevent.sleep(0.15)
    assert len(ran) == 1, ran

    # Cancelled, it never runs and leaves no watcher on the loop.
    cancelled = []
    cancel = call_later(0.05, lambda: cancelled.append(1))
    assert loop.activecnt == watchers_before + 1, (loop.activecnt, watchers_before)
    cancel()
    assert loop.activecnt == watchers_before, (loop.activecnt, watchers_before)
    gevent.sleep(0.15)
    assert cancelled == []

    # Asked for by a greenlet that a socket woke (straight from the loop's watcher, where gevent does not
    # read the clock again for new timers) after a long stretch of work, it still waits its whole time from
    # the call, not from when the loop last read the clock.
    late = []
    a, b = socket.socketpair()
    def woken_by_its_socket():
        a.recv(1)
        busy_until = time.monotonic() + 0.2
        while time.monotonic() < busy_until:
            pass
        asked = time.monotonic()
        call_later(0.1, lambda: late.append(time.monotonic() - asked))
    gevent.spawn(woken_by_its_socket)
    gevent.sleep(0.05)
    b.send(b"x")
    while not late:
        gevent.sleep(0.01)
    assert late[0] >= 0.095, late
    print("ok")
""")


def test_under_gevent_a_call_is_a_loop_timer_that_runs_in_the_hub_and_cancels_without_trace():
    assert_script_prints_ok(GEVENT_SCRIPT)


def test_a_process_asked_before_gevent_patched_it_is_told_the_truth_after():
    assert_script_prints_ok(textwrap.dedent("""
        from gempool_site.event_loop import under_gevent
        assert not under_gevent()
        from gevent import monkey
        monkey.patch_all()
        assert under_gevent() and under_gevent()
        print("ok")
    """))
