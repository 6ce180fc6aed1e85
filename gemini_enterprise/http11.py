"""A lean HTTP/1.1 client for the upstream calls made without a proxy: pooled sockets, one send, our own parser.

requests, urllib3 and http.client together were the largest share of the gateway's CPU per completion
(bench/cpu_profile.py, issue #19), spent on two small POSTs to one host. This client does only what those
calls need: a LIFO pool of kept-alive sockets per (scheme, host, port), HTTPS through an `ssl.SSLContext`
(verification per ClientConfig.verify_tls, SNI), the request head encoded once and sent with its body in one
`sendall`, TCP_NODELAY, and TCP_QUICKACK once the request is out (gemini_enterprise/transport.py says why).
It parses the status line and headers itself; every body (Content-Length, chunked or delimited by the
connection closing; gzip or deflate) is read by body.py's SocketBody, so a stream reports its silences as
on the requests path, and a body read to its end gives the socket back to the pool.

It never follows a redirect (a 3xx is the caller's to handle) and sends a request once more, on a new
connection, when a kept-alive one turns out closed by the server before the status line (the same rule as
transport.StaleConnection, for the same reason). Proxies (HTTP and SOCKS), cookies and anything else
unusual stay with requests: GeminiClient picks this client for direct calls unless ClientConfig.
upstream_client (GEMPOOL_UPSTREAM_CLIENT) says "requests".

Failures are raised as requests' exception classes (ConnectTimeout, ReadTimeout, ConnectionError, SSLError,
ChunkedEncodingError, InvalidHeader, InvalidURL): callers handle both clients alike, and the reason an
account records names the same failure whichever client met it. No message holds a header value.
"""
from __future__ import annotations

import functools
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from typing import NamedTuple, Protocol, Self
from urllib.parse import urlencode, urlsplit

import certifi
from requests import exceptions as rex
from requests.utils import requote_uri

from gemini_enterprise.body import RECV_SIZE, ResponseBody, SocketBody, decoder_for
from gemini_enterprise.transport import quick_ack

logger = logging.getLogger(__name__)

MAX_HEAD = 256 * 1024  # status line and headers; http.client allows 100 lines of 64 KiB
ONE_SEND_LIMIT = 64 * 1024  # a larger body goes in a send of its own rather than being copied behind the head
_BODY_VERBS = frozenset({"POST", "PUT", "PATCH"})  # Content-Length: 0 even without a body
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_valid_names: set[str] = set()  # header names checked once (the code's own few)
# How long a host's addresses are reused for new connections. Under gevent each lookup is a hand-off to a
# thread pool of ten (about 90 µs of CPU on the benchmark's VM), and a burst of streams opens hundreds of
# connections at once; DNS answers for the upstream's hosts live for minutes.
RESOLVED_FOR = 30.0


class Origin(NamedTuple):
    """Where a connection goes; the pool key."""

    scheme: str  # http | https
    host: str  # as for getaddrinfo and SNI (no brackets)
    port: int


class PiecewiseBody(Protocol):
    """A request body produced in pieces (client.Base64JsonBody): its total length, and its pieces from the
    start each time it is iterated (so a request that must go again sends the same bytes)."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[bytes]: ...


class _Target(NamedTuple):
    origin: Origin
    host_header: bytes
    path: bytes  # the request target, query included


class _StaleConnection(Exception):
    """A kept-alive connection was closed by the server before it answered (a send failed or no status line)."""


class _BadResponse(Exception):
    """The bytes where a response head belongs are not HTTP/1.x."""


def header_block(headers: Mapping[str, str]) -> bytes:
    """The `name: value` lines of a request, encoded as HTTP sends them (latin-1).

    A value with CR, LF or NUL would end its line early and smuggle in headers of its own: refused, as
    requests refuses it (the message names the header, never its value, which may be a credential)."""
    for name in headers:
        if name not in _valid_names:
            if not _HEADER_NAME.fullmatch(name):
                raise rex.InvalidHeader(f"header name {name[:40]!r} holds a character HTTP forbids there")
            _valid_names.add(name)
    text = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    # Each line's own CRLF is the only CR and LF allowed (one count per line beats a search per value).
    if text.count("\r") != len(headers) or text.count("\n") != len(headers) or "\0" in text:
        bad = next(name for name, value in headers.items() if "\r" in value or "\n" in value or "\0" in value)
        raise rex.InvalidHeader(f"header {bad!r} holds a character HTTP forbids there")
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        raise rex.InvalidHeader("a header value is not latin-1") from None


@functools.lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    """Origin, Host header and request target of a URL (the handful the client calls are parsed once)."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        raise rex.InvalidURL("the upstream URL does not parse") from None
    if scheme not in ("http", "https") or not host:
        raise rex.InvalidURL("the upstream URL needs http(s) and a host")
    host = host if host.isascii() else host.encode("idna").decode("ascii")
    default_port = 443 if scheme == "https" else 80
    port = port or default_port
    host_header = f"[{host}]" if ":" in host else host
    if port != default_port:
        host_header += f":{port}"
    path = requote_uri(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(Origin(scheme, host, port), host_header.encode("ascii"), path.encode("ascii"))


class _Connection:
    __slots__ = ("answers", "origin", "sock")

    def __init__(self, sock: socket.socket, origin: Origin) -> None:
        self.sock = sock
        self.origin = origin
        self.answers = 0  # responses read on it: above 0, it is a kept-alive one

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class Http11Client:
    """Pooled HTTP/1.1 connections to any number of origins; safe to share between threads and greenlets."""

    def __init__(self, *, verify_tls: bool = True, pool_maxsize: int = 10) -> None:
        self._verify_tls = verify_tls
        self._pool_maxsize = pool_maxsize  # idle connections kept per origin; more are closed when given back
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()  # guards _idle, _tls, _closed, _resolved and _lookups; never held across I/O
        self._tls: ssl.SSLContext | None = None
        self._closed = False
        self._resolved: dict[Origin, tuple[float, list[tuple]]] = {}  # origin -> (until, getaddrinfo answer)
        self._lookups: dict[Origin, threading.Lock] = {}  # held across one origin's lookup, by its one caller

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every idle connection; connections out with a response are closed when it is."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def idle_count(self, url: str) -> int:
        """Idle connections kept for the origin of `url` (for tests and diagnostics)."""
        with self._lock:
            return len(self._idle.get(_target(url).origin, ()))

    def request(self, verb: str, url: str, *, headers: bytes, body: bytes | PiecewiseBody | None = None,
                params: Mapping[str, str] | None = None, timeout: tuple[float, float],
                stream: bool = False) -> Http11Response:
        """One exchange: `headers` from header_block(), `body` bytes or pieces of bytes (sent in order, sent
        again if the request must go again), `timeout` (connect, read) in seconds.

        Returns the response once its head is read, whatever its status; without `stream` its body has been
        read too (and the connection given back). Raises requests' exception classes (module docstring).
        """
        target = _target(url)
        path = target.path
        if params:
            path += (b"&" if b"?" in path else b"?") + urlencode(params).encode("ascii")
        length = len(body) if body is not None else (0 if verb in _BODY_VERBS else None)
        head = b"".join((verb.encode("ascii"), b" ", path, b" HTTP/1.1\r\nHost: ", target.host_header, b"\r\n",
                         headers, b"" if length is None else b"Content-Length: %d\r\n" % length, b"\r\n"))
        connect_timeout, read_timeout = timeout
        conn = self._take(target.origin) or self._connect(target.origin, connect_timeout)
        try:
            response = self._exchange(conn, verb, head, body, read_timeout)
        except _StaleConnection:
            logger.info("upstream closed a kept-alive connection; sending again", extra={"method": verb, "tried": 1})
            conn = self._connect(target.origin, connect_timeout)
            response = self._exchange(conn, verb, head, body, read_timeout)  # a new connection is never stale
        if not stream:
            _ = response.content  # read now, so body failures surface here, mapped like the head's
        return response

    # ---- internals -----------------------------------------------------------------------------

    def _exchange(self, conn: _Connection, verb: str, head: bytes, body: bytes | PiecewiseBody | None,
                  read_timeout: float) -> Http11Response:
        """Send the request and read the response head; the connection is closed on any failure."""
        kept_alive = conn.answers > 0
        sock = conn.sock
        try:
            sock.settimeout(read_timeout)
            _send(sock, head, body)
        except OSError as exc:
            conn.close()
            if kept_alive and not isinstance(exc, TimeoutError):
                raise _StaleConnection from exc  # closed (FIN or RST) before the request went out
            raise _mapped(exc, read_timeout) from exc
        quick_ack(sock)
        try:
            status, reason, version, headers, leftover = _read_response_head(sock, kept_alive)
        except _StaleConnection:
            conn.close()
            raise
        except (OSError, _BadResponse) as exc:
            conn.close()
            raise _mapped(exc, read_timeout) from exc
        conn.answers += 1
        try:
            chunked, length, will_close = _framing(verb, status, version, headers)
        except _BadResponse as exc:
            conn.close()
            raise rex.ConnectionError(f"bad response framing: {exc}") from exc
        return Http11Response(self, conn, status=status, reason=reason, headers=headers, leftover=leftover,
                              chunked=chunked, length=length, will_close=will_close, read_timeout=read_timeout)

    def _take(self, origin: Origin) -> _Connection | None:
        """The most recently used idle connection that the server has not closed meanwhile, if any."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                if not idle:
                    return None
                conn = idle.pop()
            if _still_open(conn.sock):
                return conn
            conn.close()

    def _give_back(self, conn: _Connection) -> None:
        with self._lock:
            if not self._closed:
                idle = self._idle.setdefault(conn.origin, [])
                if len(idle) < self._pool_maxsize:
                    idle.append(conn)
                    return
        conn.close()

    def _connect(self, origin: Origin, timeout: float) -> _Connection:
        try:
            sock = self._connect_socket(origin, timeout)
        except TimeoutError as exc:
            raise rex.ConnectTimeout(f"no connection within {timeout:g} s") from exc
        except OSError as exc:
            raise rex.ConnectionError(f"connection failed: {type(exc).__name__}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if origin.scheme == "https":  # the handshake runs under the connect timeout, as with urllib3
                sock = self._tls_context().wrap_socket(sock, server_hostname=origin.host)
        except ssl.SSLError as exc:  # a certificate that does not verify included
            sock.close()
            raise rex.SSLError(f"TLS handshake failed: {exc.reason or type(exc).__name__}") from exc
        except TimeoutError as exc:
            sock.close()
            raise rex.ConnectTimeout(f"no TLS handshake within {timeout:g} s") from exc
        except OSError as exc:
            sock.close()
            raise rex.ConnectionError(f"connection failed: {type(exc).__name__}") from exc
        return _Connection(sock, origin)

    def _connect_socket(self, origin: Origin, timeout: float) -> socket.socket:
        """A socket connected to the first of the origin's addresses that accepts (socket.create_connection's
        rule), with the addresses looked up at most once per RESOLVED_FOR; a failure to reach any forgets them."""
        addresses = self._addresses(origin)
        error: OSError | None = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(address)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        with self._lock:
            self._resolved.pop(origin, None)
        raise error or OSError(f"no address for {origin.host}")

    def _addresses(self, origin: Origin) -> list[tuple]:
        """The origin's addresses, looked up by one caller at a time: when they are due again while a burst of
        streams connects, the others connect to the last answer meanwhile (or, with none yet, wait for the
        lookup) rather than each queueing a lookup of its own on gevent's ten resolver threads."""
        with self._lock:
            until, addresses = self._resolved.get(origin, (0.0, []))
            lookup = self._lookups.get(origin)
            if lookup is None:
                lookup = self._lookups[origin] = threading.Lock()
        if until > time.monotonic():
            return addresses
        if not lookup.acquire(blocking=not addresses):
            return addresses  # being looked up again: the last answer serves until then
        try:
            with self._lock:
                until, addresses = self._resolved.get(origin, (0.0, []))
            if until > time.monotonic():
                return addresses  # looked up while this caller waited
            addresses = socket.getaddrinfo(origin.host, origin.port, 0, socket.SOCK_STREAM)
            with self._lock:
                self._resolved[origin] = (time.monotonic() + RESOLVED_FOR, addresses)
            return addresses
        finally:
            lookup.release()

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = _tls_context(self._verify_tls)  # reads the CA file: outside the lock
            with self._lock:
                if self._tls is None:
                    self._tls = context
        return self._tls


class Http11Response:
    """A response of Http11Client: status and headers read, the body still on its socket until read or closed.

    Offers what GeminiClient and getoxsrf use of a requests.Response (status_code, headers, content, text,
    iter_content, close, `with`), plus `read(limit)` and `open_body()` (body.open_body's SocketBodySource).
    Header names are lower-case; a repeated header's values are joined with ", ".
    """

    def __init__(self, client: Http11Client, conn: _Connection, *, status: int, reason: str,
                 headers: dict[str, str], leftover: bytes, chunked: bool, length: int | None, will_close: bool,
                 read_timeout: float) -> None:
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self._client = client
        self._conn: _Connection | None = conn  # None once given back or closed
        self._leftover = leftover
        self._chunked = chunked
        self._length = length
        self._will_close = will_close
        self._read_timeout = read_timeout
        self._body: SocketBody | None = None
        self._content: bytes | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open_body(self, *, idle_after: float | None, read_timeout: float) -> ResponseBody:
        """The body as body.py reads it: silences reported every `idle_after` s (if set), TimeoutError after
        `read_timeout` s of silence. Once only."""
        if self._body is not None or self._conn is None:
            raise RuntimeError("the response body was already taken")
        decoder = decoder_for(self.headers.get("content-encoding")) or decoder_for(None)  # unknown coding: as is
        self._body = SocketBody(self, self._conn.sock, self._leftover, chunked=self._chunked, length=self._length,
                                decoder=decoder, idle_after=idle_after, read_timeout=read_timeout)
        self._leftover = b""
        return self._body

    def iter_content(self, chunk_size: int = RECV_SIZE) -> Iterator[bytes]:
        """The decoded body as it arrives, in pieces of what one read brings (`chunk_size` is accepted for
        requests' signature only). Failures raise ChunkedEncodingError, or ConnectionError on a timeout."""
        del chunk_size
        body = self._body or self.open_body(idle_after=None, read_timeout=self._read_timeout)
        try:
            while chunk := body.read():
                yield chunk
        except TimeoutError as exc:
            body.close()
            raise rex.ConnectionError(f"no body bytes within {self._read_timeout:g} s") from exc
        except OSError as exc:  # BodyBroken (framing, decompression) or the socket
            body.close()
            raise rex.ChunkedEncodingError(f"the body broke off: {type(exc).__name__}") from exc
        body.close()

    @property
    def content(self) -> bytes:
        """The whole decoded body (read on first use)."""
        if self._content is None:
            self._content = b"".join(self.iter_content())
        return self._content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def read(self, limit: int) -> bytes:
        """Up to `limit` decoded bytes of the body, or what arrived before it failed (for error bodies)."""
        if self._content is not None:
            return self._content[:limit]
        out = bytearray()
        pieces = self.iter_content()
        try:
            for piece in pieces:
                out += piece
                if len(out) >= limit:
                    break
        except rex.RequestException:
            pass
        finally:
            pieces.close()
        return bytes(out[:limit])

    def close(self) -> None:
        """Give the connection back (the body was read to its end) or close it; idempotent."""
        if self._body is not None:
            self._body.close()  # calls finish()
        else:
            self.finish(reusable=False)

    def finish(self, *, reusable: bool) -> None:
        """body.BodyOwner: called by the SocketBody once it is done with the socket."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if reusable and not self._will_close:
            self._client._give_back(conn)
        else:
            conn.close()


# ---- the wire ------------------------------------------------------------------------------------


def _mapped(exc: OSError | _BadResponse, read_timeout: float) -> rex.RequestException:
    """requests' exception for a failure between connecting and the end of the response head."""
    if isinstance(exc, TimeoutError):
        return rex.ReadTimeout(f"no answer within {read_timeout:g} s")
    return rex.ConnectionError(f"connection aborted: {type(exc).__name__}")


def _send(sock: socket.socket, head: bytes, body: bytes | PiecewiseBody | None) -> None:
    if body is None or (isinstance(body, bytes) and len(body) <= ONE_SEND_LIMIT):
        sock.sendall(head + body if body else head)
        return
    sock.sendall(head)
    for piece in [body] if isinstance(body, bytes) else body:
        sock.sendall(piece)


def _read_response_head(sock: socket.socket, kept_alive: bool) -> tuple[int, str, str, dict[str, str], bytes]:
    """(status, reason, HTTP version, headers, body bytes that came with the head); 1xx answers skipped."""
    buf = b""
    while True:
        end = buf.find(b"\r\n\r\n")
        while end < 0:
            if len(buf) > MAX_HEAD:
                raise _BadResponse("the response head is too long")
            try:
                data = sock.recv(RECV_SIZE)
            except ConnectionResetError:
                if kept_alive and not buf:
                    raise _StaleConnection from None
                raise
            if not data:
                if kept_alive and not buf:
                    raise _StaleConnection
                raise _BadResponse("the connection closed before the response head ended")
            buf += data
            end = buf.find(b"\r\n\r\n", max(0, len(buf) - len(data) - 3))
        status, reason, version, headers = _parse_head(buf[:end])
        buf = buf[end + 4:]
        if not 100 <= status < 200:
            return status, reason, version, headers, buf
        if status == 101:
            raise _BadResponse("the server switched protocols")
        kept_alive = False  # the server answered: the connection was not stale


def _parse_head(head: bytes) -> tuple[int, str, str, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit() or not code.isascii():
        raise _BadResponse("not an HTTP/1.x status line")
    headers: dict[str, str] = {}
    key = ""
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or not name or name[0] in " \t" or name[-1] in " \t":
            if line[:1] in (" ", "\t") and key:  # obsolete line folding: continues the previous value
                headers[key] += " " + line.strip()
                continue
            raise _BadResponse("a header line without a name and colon")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(code), reason, version, headers


def _framing(verb: str, status: int, version: str, headers: dict[str, str]) -> tuple[bool, int | None, bool]:
    """(chunked, length, will_close) of a response body (RFC 9112 section 6.3)."""
    connection = headers.get("connection")
    tokens = {token.strip().lower() for token in connection.split(",")} if connection else set()
    will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)
    if verb == "HEAD" or status in (204, 304):
        return False, 0, will_close
    coding = headers.get("transfer-encoding")
    if coding is not None:
        if coding.rsplit(",", 1)[-1].strip().lower() == "chunked":
            return True, None, will_close
        return False, None, True  # another transfer coding last: the body runs to the connection's end
    length = headers.get("content-length")
    if length is None:
        return False, None, True
    values = {value.strip() for value in length.split(",")}
    value = values.pop()
    if values or not (value.isascii() and value.isdigit()):
        raise _BadResponse("an invalid Content-Length")
    return False, int(value), will_close


def _still_open(sock: socket.socket) -> bool:
    """Whether an idle kept-alive socket may carry a request: nothing at all may be readable on it (a FIN, an
    RST or bytes nobody asked for each make it unusable). With timeout 0, gevent's sockets raise at once too."""
    sock.settimeout(0.0)
    try:
        sock.recv(1)
    except (BlockingIOError, ssl.SSLWantReadError):
        return True
    except OSError:
        return False
    return False


def _tls_context(verify: bool) -> ssl.SSLContext:
    """requests' choices: certifi's CA bundle and host name checks when verifying; ALPN says HTTP/1.1."""
    if verify:
        context = ssl.create_default_context(cafile=certifi.where())
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


__all__ = ["Http11Client", "Http11Response", "Origin", "header_block"]
