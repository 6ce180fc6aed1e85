"""A deadline for receiving request bodies, so a client trickling its body cannot hold a connection forever.

gunicorn reads the body only when the application asks for it, with no time limit: a client declaring 100
bytes and sending one a second holds its connection (and, under gthread, a thread) for as long as it likes,
and a few hundred such clients exhaust the worker. This WSGI middleware reads the whole body before Django
sees the request, within GEMPOOL_BODY_TIMEOUT seconds plus one second per GEMPOOL_BODY_MIN_RATE_KB KiB. When
the time is up a timer shuts the socket's read side (which ends the pending read, whichever the worker
class) and the client gets 408. The body is kept in memory up to 2 MiB, beyond that in a temporary file.

A buffering reverse proxy in front (docker-compose.yml's nginx) is the first line of defence: it receives
slow bodies itself and hands the gateway complete requests. This deadline covers a gateway reached directly.
"""
from __future__ import annotations

import io
import json
import logging
import socket
import tempfile
from collections.abc import Callable, Iterable

from django.conf import settings

from gempool_site.event_loop import call_later
from gempool_site.exceptions import error_body
from gempool_site.middleware import is_api_path

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
IN_MEMORY = 2 * 1024 * 1024
TIMED_OUT = "The request body did not arrive in time."


class BodyTimedOut(Exception):
    pass


def _declared_length(environ: dict) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def body_deadline_seconds(length: int | None) -> float:
    """How long a body of `length` bytes may take to arrive (a body of unknown length: the base time)."""
    per_second = settings.GEMPOOL_BODY_MIN_RATE_KB * 1024
    return settings.GEMPOOL_BODY_TIMEOUT + (length or 0) / per_second


def read_body(stream, *, length: int | None, limit: int, seconds: float, sock: socket.socket):
    """The body (up to `limit` bytes) as a rewound file; raises BodyTimedOut once `seconds` have passed."""
    cut = False

    def stop_reading() -> None:
        nonlocal cut
        cut = True
        try:
            sock.shutdown(socket.SHUT_RD)  # the pending recv() returns at once with end-of-file
        except OSError:
            pass  # the client is gone already: the read ends by itself

    cancel = call_later(seconds, stop_reading)
    # A body of known length that fits in memory skips SpooledTemporaryFile's wrapper around the same BytesIO.
    fits = length is not None and min(length, limit) <= IN_MEMORY
    body = io.BytesIO() if fits else tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)
    try:
        wanted = limit if length is None else min(length, limit)
        while wanted > 0:
            chunk = stream.read(min(CHUNK, wanted))
            if not chunk:
                break
            body.write(chunk)
            wanted -= len(chunk)
    except OSError:
        if not cut:
            raise
    finally:
        cancel()
    if cut:
        body.close()
        raise BodyTimedOut
    body.seek(0)
    return body


class BodyReadDeadline:
    """WSGI middleware around Django's application (gempool_site.wsgi)."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        length = _declared_length(environ)
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # No body, no socket to cut (another server), or a body Django refuses unread (413): nothing to wait for.
        if sock is None or not (length or chunked) or (length or 0) > limit:
            return self.app(environ, start_response)
        try:
            body = read_body(environ["wsgi.input"], length=length, limit=limit + 1, sock=sock,
                             seconds=body_deadline_seconds(length))
        except BodyTimedOut:
            logger.warning("request body too slow", extra={"path": environ.get("PATH_INFO", ""),
                                                            "declared_length": length})
            return self._timed_out(environ, start_response)
        environ["wsgi.input"] = body
        environ["CONTENT_LENGTH"] = str(body.seek(0, 2))
        body.seek(0)
        return self.app(environ, start_response)

    @staticmethod
    def _timed_out(environ: dict, start_response: Callable) -> list[bytes]:
        if is_api_path(environ.get("PATH_INFO", "")):
            payload = json.dumps(error_body(TIMED_OUT, code="request_timeout")).encode()
            content_type = "application/json"
        else:
            payload, content_type = TIMED_OUT.encode(), "text/plain; charset=utf-8"
        # No "Connection: close": gunicorn drops hop-by-hop headers; the shut read side ends the connection.
        start_response("408 Request Timeout", [("Content-Type", content_type),
                                               ("Content-Length", str(len(payload)))])
        return [payload]
