"""Receives that give up after a silence: with the socket's timeout, and under gevent with one timer per reader."""
from __future__ import annotations

import socket
import textwrap
import time

import pytest

from gemini_enterprise.silence import TimeoutSilenceReceiver, silence_bounded
from tests.script_run import assert_script_prints_ok


def test_a_plain_socket_receives_what_arrives_and_gives_up_after_a_silence_of_one_step():
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(7.0)
        receiver = silence_bounded(a, 0.05)
        assert isinstance(receiver, TimeoutSilenceReceiver)
        b.sendall(b"hello")
        assert receiver.recv(100) == b"hello"
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            receiver.recv(100)
        assert time.monotonic() - started >= 0.045
        receiver.close()
        assert a.gettimeout() == 7.0  # the timeout it had, for whoever uses the socket next


GEVENT_SCRIPT = textwrap.dedent("""
    from gevent import monkey
    monkey.patch_all()
    import socket, threading, time
    import gevent
    import gevent.timeout
    from gemini_enterprise.silence import GeventSilenceReceiver, silence_bounded

    STEP = 0.2
    armed = []
    real_start = gevent.timeout.Timeout.start
    def counting_start(self, *args, **kwargs):
        armed.append(self.seconds)
        return real_start(self, *args, **kwargs)
    gevent.timeout.Timeout.start = counting_start

    # Fragments closer together than a step: every receive waits, none gives up, and no gevent.Timeout is
    # armed for any of them.
    a, b = socket.socketpair()
    a.settimeout(9.0)
    receiver = silence_bounded(a, STEP)
    assert isinstance(receiver, GeventSilenceReceiver), type(receiver)
    def drip():
        for i in range(12):
            gevent.sleep(STEP / 3)
            b.sendall(b"%d;" % i)
    writer = gevent.spawn(drip)
    got = b""
    while got.count(b";") < 12:
        got += receiver.recv(100)
    writer.join()
    assert got == b"".join(b"%d;" % i for i in range(12)), got
    assert armed == [], armed

    # A silence of one step ends the receive with TimeoutError, about a step after it began.
    started = time.monotonic()
    try:
        receiver.recv(100)
    except TimeoutError:
        waited = time.monotonic() - started
    else:
        raise AssertionError("the silent receive returned")
    assert STEP - 0.01 <= waited < STEP + 0.15, waited

    # A reader busy elsewhere for longer than a step (a slow client) gets nothing thrown at it meanwhile, and
    # its next receive starts a fresh step.
    gevent.sleep(2.5 * STEP)
    b.sendall(b"late")
    assert receiver.recv(100) == b"late"
    gevent.spawn_later(STEP * 0.7, b.sendall, b"again")
    assert receiver.recv(100) == b"again"  # waited 0.7 step after 2.5 steps away: not a silence

    # Another greenlet of the same thread reads with the same timer (a body opened while Django handled the
    # request, gempool_site/fresh_stack.py, is relayed by the connection's greenlet): no gevent.Timeout.
    def other_greenlet():
        gevent.spawn_later(STEP / 3, b.sendall, b"relayed")
        return receiver.recv(100)
    assert gevent.spawn(other_greenlet).get() == b"relayed"
    assert armed == [], armed

    # A receive from another OS thread (whose hub cannot use this timer) falls back to the socket's timeout.
    outcome = []
    def other_thread():
        try:
            receiver.recv(100)
        except TimeoutError:
            outcome.append("timed out")
    thread = monkey.get_original("threading", "Thread")(target=other_thread)
    thread.start()
    thread.join(5)
    assert outcome == ["timed out"], outcome

    # Closed, the timer is gone and the socket has its timeout back.
    receiver.close()
    assert a.gettimeout() == 9.0
    gevent.sleep(2 * STEP)  # a timer left armed would throw into this greenlet here

    # A reader nobody closes leaves no timer behind once no receive is waiting.
    loop = gevent.get_hub().loop
    watchers_before = loop.activecnt
    c, d = socket.socketpair()
    forgotten = silence_bounded(c, STEP)
    d.sendall(b"x")
    assert forgotten.recv(10) == b"x"
    assert loop.activecnt == watchers_before + 1  # its timer, armed by the receive
    gevent.sleep(1.5 * STEP)
    assert loop.activecnt == watchers_before, (loop.activecnt, watchers_before)
    print("ok")
""")


def test_under_gevent_one_timer_bounds_every_receive_and_a_reader_busy_elsewhere_is_left_alone():
    assert_script_prints_ok(GEVENT_SCRIPT)
