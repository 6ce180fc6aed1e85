"""Adjustments for the gevent worker that gevent's monkey-patching cannot know to make.

This replaces `urllib3.util.wait.wait_for_socket`, a module global urllib3 does not document as a hook.
tests/gempool_site/test_gevent_tuning.py pins what that relies on (its signature, that wait_for_read and the
pool's connection check reach it through the module global), so an urllib3 upgrade that changes one fails
there by name.
"""
from __future__ import annotations

import select
import socket
from collections.abc import Callable

_Waiter = Callable[..., bool]


def native_zero_timeout_polls() -> None:
    """Let urllib3's zero-timeout socket checks use the native poll().

    Before it reuses a pooled connection, urllib3 asks poll() with a timeout of 0 whether the peer has
    closed it. Under gevent that poll() is the cooperative one, ~30x dearer (watchers, a hub round): about
    0.3 ms per completion on a 2-core box. A zero timeout never blocks, so the native call is safe inside
    the event loop; every other wait keeps gevent's cooperative path.
    """
    from gevent import monkey
    from urllib3.util import wait

    if getattr(wait.wait_for_socket, "native_zero_timeout", False):
        return
    native_poll = monkey.get_original("select", "poll")
    # urllib3's wait_for_socket starts as a dispatcher that, on its first call, rebinds the module global to
    # the poll or select variant: wrapped unresolved, its first real wait would replace this wrapper. One
    # call now (zero timeout, on a throwaway socket pair) resolves it to the cooperative variant to wrap.
    probe, peer = socket.socketpair()
    with probe, peer:
        wait.wait_for_socket(probe, read=True, timeout=0)
    cooperative: _Waiter = wait.wait_for_socket

    def wait_for_socket(sock: socket.socket, read: bool = False, write: bool = False,
                        timeout: float | None = None) -> bool:
        if timeout != 0 or not (read or write):
            return cooperative(sock, read, write, timeout)
        poller = native_poll()
        poller.register(sock, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0))
        return bool(poller.poll(0))

    wait_for_socket.native_zero_timeout = True  # type: ignore[attr-defined]
    wait.wait_for_socket = wait_for_socket
