"""A loopback address whose connects time out, for the tests of connect timeouts (no Django needed)."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def blackhole_url() -> Iterator[str]:
    """http://host:port of a listener with a full accept queue that never accepts; skips the test where the
    kernel queues connections beyond the backlog.

    Linux drops SYNs to a listener whose backlog is full, so the client's connect() hangs until its timeout.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(4):  # backlog 0 still queues one or two: connect until a connect times out
            probe = socket.socket()
            probe.settimeout(0.3)
            try:
                probe.connect(listener.getsockname())
            except TimeoutError:
                probe.close()
                break
            fillers.append(probe)  # it got a place in the queue, and keeps it
        else:
            pytest.skip("this kernel accepts connections beyond the backlog; no blackhole available")
        host, port = listener.getsockname()
        yield f"http://{host}:{port}"
    finally:
        for sock in (*fillers, listener):
            sock.close()
