"""gunicorn's gevent worker, with each piece of a response written by one direct send where the socket has room.

gunicorn writes every piece (the head, each streamed event) with the connection's `sendall`. gevent's
`sendall` is written for any size: it asks the kernel for the send buffer's size (a getsockopt system call),
slices the data into chunks of that size and sends each through a few layers of Python, even for the
200-byte event of a relayed stream, where one send always takes all of it. `DirectSendSocket` tries that one
send on the OS socket first and leaves only a remainder (a full buffer: a slow client) to gevent's
cooperative `sendall`. Measured with bench/side_by_side.py: about 5 µs per relayed fragment.

It reaches for gevent's OS socket through the private `_sock` attribute of gevent's socket;
tests/gempool_site/test_gevent_worker.py pins what that relies on (the attribute is there, non-blocking, and
gunicorn hands `handle()` the socket every later write goes to), so an upgrade that changes it fails by name.
"""
from __future__ import annotations

from typing import Any

from gunicorn.workers.ggevent import GeventWorker as GunicornGeventWorker


class DirectSendSocket:
    """A connection's gevent socket, whose sendall first tries one non-blocking send of the whole piece."""

    __slots__ = ("_socket",)

    def __init__(self, gevent_socket: Any) -> None:
        self._socket = gevent_socket

    def sendall(self, data: bytes, flags: int = 0) -> None:
        try:
            sent = self._socket._sock.send(data, flags)  # gevent keeps its OS socket non-blocking
        except BlockingIOError:
            sent = 0
        if sent < len(data):
            self._socket.sendall(memoryview(data)[sent:], flags)  # waits cooperatively for room

    def __getattr__(self, name: str) -> Any:
        return getattr(self._socket, name)


class GeventWorker(GunicornGeventWorker):
    """gunicorn's gevent worker serving each plain-HTTP connection through a DirectSendSocket."""

    def handle(self, listener, client, addr) -> None:
        if self.cfg.is_ssl:  # gunicorn wraps the socket in TLS itself: that needs the real socket
            super().handle(listener, client, addr)
        else:
            super().handle(listener, DirectSendSocket(client), addr)
