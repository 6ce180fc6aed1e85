"""Send a response's head and its first piece of body in one TCP segment.

gunicorn writes the status line and headers with one send() and each piece of body with another. With
TCP_NODELAY (gunicorn's default) that is two segments, and on loopback, where the client's side of each
segment is processed in the sender's system call, each wakes the client: the head's wake-up is pure cost
(a send took about 0.2 ms of CPU on the benchmark's VM with two workers, sampled with py-spy). TCP_CORK
holds the head back until the first piece of body is written too; the socket is uncorked as soon as the
server asks for the second piece, before any wait for it, so a stream's first event leaves at once and
every later one is sent as it comes, exactly as before. A non-streamed answer goes out as one segment.

It needs the connection's socket, which gunicorn puts in the WSGI environ as `gunicorn.socket`; any other
server (runserver, tests' client) has none and gets the response untouched, as does a file response that
gunicorn may send with sendfile().
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator

from django.http import HttpResponseBase

CORK = getattr(socket, "TCP_CORK", None)  # Linux


class CorkedResponse:
    """The response's body as the server iterates it, with the socket corked until its first piece is out."""

    def __init__(self, response: HttpResponseBase, sock: socket.socket) -> None:
        self._response = response
        self._sock = sock
        self._corked = _set_cork(sock, True)

    def __iter__(self) -> Iterator[bytes]:
        pieces = iter(self._response)
        for first in pieces:
            yield first
            del first  # sent: a stream that lasts minutes need not hold it
            break
        self._uncork()  # the first piece was written: it leaves with the head now, before any wait for more
        yield from pieces

    def close(self) -> None:
        self._uncork()  # before the response's own close(), which may run bookkeeping after the send
        self._response.close()

    def _uncork(self) -> None:
        if self._corked:
            self._corked = False
            _set_cork(self._sock, False)


def _set_cork(sock: socket.socket, on: bool) -> bool:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, CORK, 1 if on else 0)
    except OSError:  # the client already left: nothing to hold back or release
        return False
    return True


class HeadWithFirstPiece:
    """WSGI middleware: wraps Django's responses in CorkedResponse where gunicorn gives the socket."""

    def __init__(self, app: Callable[[dict, Callable], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        result = self.app(environ, start_response)
        sock = environ.get("gunicorn.socket")
        if CORK is None or sock is None or not isinstance(result, HttpResponseBase):
            return result  # a file response comes back as the server's file wrapper: left to sendfile()
        return CorkedResponse(result, sock)
