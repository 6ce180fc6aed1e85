"""The urllib3 and http.client internals body.py's socket reader relies on: every one of them, and only here.

Neither library has a public way to take over a streamed response's socket once its headers are parsed, so
these functions read private attributes (`HTTPResponse._fp`, http.client's `fp`, `chunked`, `length`,
`chunk_left`, `will_close`, a close-delimited reader's `raw._sock`). tests/gemini_enterprise/
test_http_internals.py pins each assumption against the installed versions: an upgrade that moves one fails
there by name, instead of every stream quietly falling back to the slower RawBody (no silence reports).
Verified with urllib3 2.8 and Python 3.13's http.client.
"""
from __future__ import annotations

import http.client
import io
import socket
from dataclasses import dataclass

import urllib3


@dataclass(frozen=True, slots=True)
class Wire:
    """What a streamed response is made of below urllib3, right after its headers were parsed."""

    http_response: http.client.HTTPResponse  # the object urllib3 wraps
    buffered: io.BufferedReader  # http.client's reader over the socket: may hold body bytes already
    sock: socket.socket
    chunked: bool
    length: int | None  # sized body: its length; None for chunked or delimited by the connection closing
    mid_chunk: bool  # http.client has read into a chunk already: the framing state is no longer ours


def wire_of(raw: urllib3.HTTPResponse) -> Wire | None:
    """The parts of `raw` (requests' `response.raw`), or None where there is no socket (e.g. `responses`)."""
    http_response = getattr(raw, "_fp", None)
    buffered = getattr(http_response, "fp", None)
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        # A response the server will close owns the socket (http.client hands it over from the connection);
        # its buffered reader still reads from it.
        sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    if http_response is None or buffered is None or sock is None:
        return None
    return Wire(http_response=http_response, buffered=buffered, sock=sock, chunked=bool(http_response.chunked),
                length=None if http_response.chunked else http_response.length,
                # chunk_left: None between chunks, a count inside one; for other framings a meaningless marker.
                mid_chunk=bool(http_response.chunked) and http_response.chunk_left is not None)


def release_to_pool(raw: urllib3.HTTPResponse) -> bool:
    """After the whole body was read off the socket: give the connection back to urllib3's pool for the next
    call, unless the server said it will close it. True if it went back."""
    http_response = raw._fp
    if http_response.will_close:
        return False
    http_response.close()  # drops http.client's file object, not the socket
    raw.release_conn()  # after this, closing the response no longer touches the connection
    return True
