"""read_body: the request body read whole before Django sees it, in memory up to 2 MiB, spooled to disk beyond."""
from __future__ import annotations

import io
import socket
import tempfile

from gempool_site import body_deadline


def _read(data: bytes, *, length: int | None) -> object:
    left, right = socket.socketpair()
    try:
        return body_deadline.read_body(io.BytesIO(data), length=length, limit=10 * 2**20, seconds=30, sock=left)
    finally:
        left.close()
        right.close()


def test_a_small_body_of_known_length_is_read_whole_into_memory():
    body = _read(b'{"model": "m"}', length=14)
    assert body.read() == b'{"model": "m"}' and isinstance(body, io.BytesIO)


def test_a_body_beyond_the_memory_bound_is_kept_in_a_file():
    data = b"x" * (body_deadline.IN_MEMORY + 1)
    for length in (len(data), None):  # declared, or chunked (unknown until read)
        body = _read(data, length=length)
        assert body.read() == data and isinstance(body, tempfile.SpooledTemporaryFile)  # on disk past 2 MiB
        body.close()
