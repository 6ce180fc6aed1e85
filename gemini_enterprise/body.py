"""Reading a streamed response body: straight from its socket where we can, through urllib3 where we cannot.

A streamed answer is read for seconds or minutes while the caller also wants to hear about silences (to
send keep-alives). http.client cannot be read with a timeout: a timeout inside its chunk reader loses
the partly read line and leaves the response unusable. `SocketBody` therefore takes the socket over once
the headers are parsed and undoes the transfer framing (chunked, sized or delimited by the connection
closing) and the content coding (gzip, deflate) itself, so a silence is just a timed-out `recv` with nothing
lost. Once the last chunk is read the connection goes back to its pool (urllib3's, or the lean client's in
gemini_enterprise/http11.py, whose responses read every body through SocketBody), where the next call
reuses it (no new TCP or TLS handshake). `RawBody` serves what SocketBody cannot on the requests path (no
socket, as with `responses` in unit tests, or another coding). The urllib3/http.client internals this takes
are all read in gemini_enterprise/http_internals.py.
"""
from __future__ import annotations

import logging
import socket
import ssl
import zlib
from typing import Protocol

import requests

from gemini_enterprise.http_internals import release_to_pool, wire_of
from gemini_enterprise.silence import silence_bounded

logger = logging.getLogger(__name__)

RECV_SIZE = 64 * 1024
MAX_CHUNK_LINE = 4096  # a chunk-size line (with extensions) or trailer line longer than this is garbage


class BodyIdle(Exception):
    """Nothing arrived within the idle interval; the body is intact and may be read again."""

    def __init__(self, silent_for: float) -> None:
        super().__init__(f"silent for {silent_for:g} s")
        self.silent_for = silent_for


class BodyBroken(OSError):
    """The body ended early or its framing is not HTTP/1.1."""


class ResponseBody(Protocol):
    def read(self) -> bytes:
        """The next decoded bytes (as soon as any are there); b"" at the end.

        May raise BodyIdle (a silence of the idle interval, less than the read timeout in all) or
        TimeoutError (silent for the read timeout).
        """

    def close(self) -> None:
        """Give the connection back (complete body) or drop it; idempotent."""


class BodyOwner(Protocol):
    """Whoever lent SocketBody the socket: takes the connection back once the body is done with."""

    def finish(self, *, reusable: bool) -> None:
        """The body was read to its end with nothing left over (`reusable`: the connection may serve another
        request, if the server did not say it will close it) or abandoned (close the connection)."""


class SocketBodySource(Protocol):
    """A response that can hand its body over as a ResponseBody itself (the lean client's)."""

    def open_body(self, *, idle_after: float | None, read_timeout: float) -> ResponseBody: ...


def open_body(response: requests.Response | SocketBodySource, *, idle_after: float | None,
              read_timeout: float) -> ResponseBody:
    """The body of a streamed 200 response; reads raise BodyIdle after each `idle_after` s of silence (if set),
    and TimeoutError once the silence reaches `read_timeout`."""
    if not isinstance(response, requests.Response):
        return response.open_body(idle_after=idle_after, read_timeout=read_timeout)
    wire = wire_of(response.raw)
    coding = (response.headers.get("content-encoding") or "identity").strip().lower()
    if wire is not None:
        # urllib3 set the timeout its headers were awaited with (maybe shortened to a caller's deadline).
        wire.sock.settimeout(read_timeout)
    if wire is None or coding not in _DECODERS or wire.mid_chunk:
        return RawBody(response)
    leftover = _drain(wire.buffered, wire.sock)
    return SocketBody(_Urllib3Owner(response), wire.sock, leftover, chunked=wire.chunked, length=wire.length,
                      decoder=_DECODERS[coding](), idle_after=idle_after, read_timeout=read_timeout)


def _drain(buffered, sock: socket.socket) -> bytes:
    """What http.client's buffered reader already holds past the headers, without waiting for more."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)  # read1 then returns the buffered bytes, or what the socket has, or b"" at once
    try:
        return buffered.read1(RECV_SIZE) or b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return b""  # nothing buffered and nothing arrived yet (TLS says so with its own error)
    finally:
        sock.settimeout(timeout)


class _Urllib3Owner:
    """A requests response whose socket SocketBody reads: urllib3's pool takes a fully read connection back."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def finish(self, *, reusable: bool) -> None:
        if reusable:
            release_to_pool(self._response.raw)  # the next call may reuse it
        self._response.close()


def decoder_for(coding: str | None) -> _Decoder | None:
    """A fresh decoder for a Content-Encoding value (None or empty: identity); None for a coding we lack."""
    factory = _DECODERS.get((coding or "identity").strip().lower())
    return factory() if factory is not None else None


class RawBody:
    """Body read through urllib3 (which decodes any coding it knows); silences are not reported."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def read(self) -> bytes:
        # read1 returns as soon as some bytes are there (chunked or not); read(n) would wait for n bytes.
        return self._response.raw.read1(RECV_SIZE, decode_content=True)

    def close(self) -> None:
        self._response.close()


class SocketBody:
    """A response body read from its socket: chunked, sized or close-delimited framing, identity/gzip/deflate
    coding. `length` None without `chunked`: the body ends when the server closes the connection."""

    def __init__(self, owner: BodyOwner, sock: socket.socket, leftover: bytes, *, chunked: bool,
                 length: int | None, decoder: _Decoder, idle_after: float | None, read_timeout: float) -> None:
        self._owner = owner
        # Each timed-out receive (gemini_enterprise/silence.py) is one idle step; they add up to the silence so
        # far, which read_timeout bounds.
        self._idle_step = min(idle_after, read_timeout) if idle_after else read_timeout
        self._read_timeout = read_timeout
        self._silence = 0.0
        self._receiver = silence_bounded(sock, self._idle_step)
        self._buf = bytearray(leftover)
        self._chunked = chunked
        self._left = length  # sized: bytes still to come; chunked: of the current chunk (None: a size line next)
        self._decoder = decoder
        self._state = "size" if chunked else "data"
        self._complete = False
        self._closed = False

    def read(self) -> bytes:
        while True:
            data = self._take()
            if data or self._complete:
                return self._decoder.decode(data) if data else self._decoder.flush()
            self._fill()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._receiver.close()
        # Reusable only at the end of a framed body with no stray bytes after it (those would be read as the
        # next response's start).
        owner, self._owner = self._owner, None  # the owner holds this body: no cycle left for the collector
        owner.finish(reusable=self._complete and self._state == "done" and not self._buf)

    # ---- internals -----------------------------------------------------------------------------

    def _fill(self) -> None:
        try:
            data = self._receiver.recv(RECV_SIZE)
        except TimeoutError:
            self._silence += self._idle_step
            if self._silence >= self._read_timeout - 1e-6:
                raise
            raise BodyIdle(self._silence) from None
        self._silence = 0.0
        if not data:
            if self._chunked or self._left:
                raise BodyBroken("the connection closed before the end of the body")
            self._complete = True  # a body delimited by the connection closing
            self._state = "closed"
            return
        self._buf += data

    def _take(self) -> bytes:
        """Every body byte the buffer completes, with the framing removed."""
        if not self._chunked:
            return self._take_sized()
        out = bytearray()
        while not self._complete and self._step(out):
            pass
        return bytes(out)

    def _take_sized(self) -> bytes:
        if self._left is None:  # until the connection closes
            data, self._buf = bytes(self._buf), bytearray()
            return data
        data = bytes(self._buf[:self._left])
        del self._buf[:len(data)]
        self._left -= len(data)
        if self._left == 0:
            self._complete, self._state = True, "done"
        return data

    def _step(self, out: bytearray) -> bool:
        """Advance the chunked decoder by one piece; False when it needs more bytes."""
        if self._state == "data":
            size = min(self._left, len(self._buf))
            out += self._buf[:size]
            del self._buf[:size]
            self._left -= size
            if self._left:
                return False
            self._state = "crlf"
            return True
        if self._state == "crlf":
            if len(self._buf) < 2:
                return False
            if self._buf[:2] != b"\r\n":
                raise BodyBroken("a chunk is not followed by CRLF")
            del self._buf[:2]
            self._state = "size"
            return True
        line = self._line()
        if line is None:
            return False
        if self._state == "size":
            self._start_chunk(line)
        elif not line:  # the empty line after the trailers
            self._complete, self._state = True, "done"
        return True

    def _line(self) -> bytes | None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > MAX_CHUNK_LINE:
                raise BodyBroken("a chunk-size line is too long")
            return None
        line = bytes(self._buf[:end])
        del self._buf[:end + 2]
        return line

    def _start_chunk(self, line: bytes) -> None:
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyBroken("a chunk-size line is not hexadecimal") from None
        if size < 0:
            raise BodyBroken("a negative chunk size")
        self._left, self._state = size, ("data" if size else "trailers")


class _Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Identity:
    def decode(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


class _Zlib:
    """gzip, or deflate in its zlib wrapper or (as some servers send it) raw."""

    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._inflater = zlib.decompressobj(wbits)
        self._started = False
        self._first = b""

    def decode(self, data: bytes) -> bytes:
        try:
            out = self._inflater.decompress(data)
        except zlib.error:
            if self._started or self._wbits != zlib.MAX_WBITS:
                raise BodyBroken("the body does not decompress") from None
            self._wbits, self._inflater = -zlib.MAX_WBITS, zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
            return self.decode(self._first + data)
        self._started = self._started or bool(out)
        if not self._started:
            self._first += data
        return out

    def flush(self) -> bytes:
        return self._inflater.flush()


_DECODERS = {
    "identity": _Identity,
    "gzip": lambda: _Zlib(zlib.MAX_WBITS | 16),
    "x-gzip": lambda: _Zlib(zlib.MAX_WBITS | 16),
    "deflate": lambda: _Zlib(zlib.MAX_WBITS),
}
