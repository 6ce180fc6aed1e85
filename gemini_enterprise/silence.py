"""Receiving from a socket until it has been silent for a while: the one blocking call of a body reader.

A socket timeout does this, and does it everywhere but under gevent cheaply. Under gevent every receive
that has to wait arms and disarms a `gevent.Timeout` (a Python object and a timer watcher each time): on a
relayed stream that is once per fragment, about a tenth of a stream's CPU (bench/README.md, "Relaying under
gevent"). There the reader keeps one timer for the whole body instead: a receive only notes when it began
waiting, and the timer, when it fires, either finds that wait a whole step old and ends it the way gevent's
own timeouts do (TimeoutError thrown into the waiting greenlet), or sleeps again until it could be, or,
when no receive is waiting, lapses until the next one.
"""
from __future__ import annotations

import socket
import time
from typing import Protocol

# A wait is ended once it is this close to a whole step: the timer may wake a hair before the step is up.
EARLY_BY = 0.001


class SilenceBoundedReceiver(Protocol):
    def recv(self, size: int) -> bytes:
        """Up to `size` bytes; raises TimeoutError once nothing has arrived for the step."""
        ...

    def close(self) -> None:
        """Done receiving: the socket gets the timeout it had back."""
        ...


def silence_bounded(sock: socket.socket, step: float) -> SilenceBoundedReceiver:
    """A receiver on `sock` whose receives give up after `step` seconds without a byte."""
    if type(sock).__module__.startswith("gevent."):  # gevent's socket or its SSL socket (monkey-patched)
        return GeventSilenceReceiver(sock, step)
    return TimeoutSilenceReceiver(sock, step)


class TimeoutSilenceReceiver:
    """The socket's own timeout bounds each receive."""

    def __init__(self, sock: socket.socket, step: float) -> None:
        self._sock = sock
        self._timeout_before = sock.gettimeout()
        sock.settimeout(step)
        self.recv = sock.recv

    def close(self) -> None:
        self._sock.settimeout(self._timeout_before)


class GeventSilenceReceiver:
    """One gevent timer per reader bounds every receive (see the module's docstring).

    Any greenlet of the thread that built it may read, one at a time; a receive from another thread (whose
    hub cannot use this timer) falls back to the socket's timeout.
    """

    def __init__(self, sock: socket.socket, step: float) -> None:
        import gevent  # only ever built for gevent's sockets

        self._sock = sock
        self._step = step
        self._timeout_before = sock.gettimeout()
        sock.settimeout(None)  # a wait arms no gevent Timeout: this reader's timer bounds it
        self._getcurrent = gevent.getcurrent
        # The hub of the thread that built it (one per OS thread; any greenlet of that thread may read, not
        # only the one that opened the body): its loop runs this reader's timer.
        self._hub = gevent.get_hub()
        self._get_hub = gevent.get_hub
        self._loop = self._hub.loop
        # Armed by a receive that finds none, re-armed by itself while a receive waits, dropped otherwise: so a
        # reader nobody closes leaves no timer behind.
        self._timer = None
        self._waiting_since: float | None = None  # monotonic start of the receive in progress
        self._reader = None  # the greenlet of that receive
        self._closed = False

    def recv(self, size: int) -> bytes:
        if self._get_hub() is not self._hub:  # the timer belongs to the opening thread's hub
            return self._recv_with_socket_timeout(size)
        if self._timer is None:
            self._arm(self._step)
        self._reader = self._getcurrent()
        self._waiting_since = time.monotonic()
        try:
            return self._sock.recv(size)
        finally:
            self._waiting_since = None
            self._reader = None

    def _recv_with_socket_timeout(self, size: int) -> bytes:
        self._sock.settimeout(self._step)
        try:
            return self._sock.recv(size)
        finally:
            self._sock.settimeout(None)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        timer, self._timer = self._timer, None
        if timer is not None and self._get_hub() is self._hub:
            timer.close()  # from another thread it is left to fire once more and find the reader closed
        self._sock.settimeout(self._timeout_before)

    def _arm(self, after: float) -> None:
        self._timer = self._loop.timer(after)
        self._timer.start(self._check)

    def _check(self) -> None:
        """Runs in the hub when the timer fires."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.close()
        if self._closed:
            return
        since = self._waiting_since
        if since is None:  # not receiving now: the next receive arms a timer again
            return
        waited = time.monotonic() - since
        if waited < self._step - EARLY_BY:
            self._arm(self._step - waited)
            return
        # The next receive arms a new timer. The reader is inside recv() (the only place it can be waiting
        # with _waiting_since set), so the error surfaces from that call, exactly where a socket timeout would.
        self._reader.throw(TimeoutError("timed out"))
