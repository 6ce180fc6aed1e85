"""Reading streamed bodies straight from the socket: framing, codings, silences, and giving the connection back."""
from __future__ import annotations

import gzip
import socket
import ssl
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from gemini_enterprise.body import BodyBroken, BodyIdle, RawBody, SocketBody, open_body
from tests.gemini_enterprise.body_reading import read_counting_idles
from tests.gemini_enterprise.scripted_server import Script, frame
from tests.gemini_enterprise.self_signed import write_self_signed
from tests.script_run import assert_script_prints_ok


def _chunked(*pieces: bytes, extra_headers: bytes = b"") -> Script:
    """A chunked 200 whose body bytes go out in `pieces`, a short pause between them (splits anywhere)."""

    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra_headers + b"\r\n")
        for piece in pieces:
            conn.sendall(piece)
            time.sleep(0.01)

    return script


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def _read_all(body) -> bytes:
    out = b""
    while chunk := body.read():
        out += chunk
    return out


def _open(http: requests.Session, url: str, *, idle_after: float | None = None, read_timeout: float = 5.0):
    response = http.get(url, stream=True, timeout=5)
    return open_body(response, idle_after=idle_after, read_timeout=read_timeout)


def test_chunked_bodies_decode_however_the_bytes_are_split(serve, http):
    wire = frame(b"[{\n", b'"a": 1', b"}\n]")
    # Split inside a size line, between the CRLFs, and inside the terminal chunk.
    server = serve(_chunked(wire[:2], wire[2:9], wire[9:10], wire[10:-3], wire[-3:]))
    body = _open(http, server.url)
    assert isinstance(body, SocketBody)
    assert _read_all(body) == b'[{\n"a": 1}\n]'


def test_chunk_extensions_and_trailers_are_understood(serve, http):
    server = serve(_chunked(b"5;name=value\r\nhello\r\n0\r\nX-Trailer: yes\r\n\r\n"))
    assert _read_all(_open(http, server.url)) == b"hello"


def test_a_sized_body_ends_at_its_length(serve, http):
    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello")
        time.sleep(0.02)  # the rest comes in a second packet
        conn.sendall(b" world")

    server = serve(script)
    body = _open(http, server.url)
    assert isinstance(body, SocketBody)  # sized bodies report silences too
    assert _read_all(body) == b"hello world"


@pytest.mark.parametrize("coding,encode", [
    ("gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send "deflate"
], ids=["gzip", "deflate", "raw-deflate"])
def test_compressed_bodies_are_decoded(serve, http, coding, encode):
    payload = b'[{"text": "compressed answer"}]' * 20
    packed = encode(payload)
    server = serve(_chunked(frame(packed[:7], packed[7:]), extra_headers=f"Content-Encoding: {coding}\r\n".encode()))
    assert _read_all(_open(http, server.url)) == payload


def test_a_silence_is_reported_and_reading_goes_on_without_losing_a_byte(serve, http):
    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
        time.sleep(0.35)  # silent in the middle of a chunk
        conn.sendall(b"lo\r\n0\r\n\r\n")

    server = serve(script)
    received, idles = read_counting_idles(_open(http, server.url, idle_after=0.1))
    assert received == b"hello" and idles >= 2


def test_silences_add_up_to_the_read_timeout(serve, http):
    def script(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
        time.sleep(1.0)  # longer than the read timeout

    server = serve(script)
    body = _open(http, server.url, idle_after=0.1, read_timeout=0.35)
    assert body.read() == b"hi"
    reported = []
    with pytest.raises(TimeoutError):
        while True:
            try:
                body.read()
            except BodyIdle as idle:
                reported.append(round(idle.silent_for, 1))
    assert reported == [0.1, 0.2, 0.3]


def test_a_body_cut_short_is_broken(serve, http):
    server = serve(_chunked(b"a\r\nonly"))  # then the connection closes
    body = _open(http, server.url)
    with pytest.raises(BodyBroken):
        _read_all(body)


def test_garbage_framing_is_broken(serve, http):
    server = serve(_chunked(b"zz\r\nnope\r\n0\r\n\r\n"))
    with pytest.raises(BodyBroken):
        _read_all(_open(http, server.url))


def test_a_complete_body_gives_its_connection_back_for_the_next_call(serve, http):
    server = serve(_chunked(frame(b"one")), _chunked(frame(b"two")))
    first = _open(http, server.url)
    assert _read_all(first) == b"one"
    first.close()
    second = _open(http, server.url)
    assert _read_all(second) == b"two"
    second.close()
    assert server.connections == 1


def test_a_connection_the_server_will_close_is_not_pooled(serve, http):
    server = serve(_chunked(frame(b"one"), extra_headers=b"Connection: close\r\n"), _chunked(frame(b"two")))
    first = _open(http, server.url, idle_after=0.1)
    assert isinstance(first, SocketBody)  # silences are reported on such a stream too
    assert _read_all(first) == b"one"
    first.close()
    assert _read_all(_open(http, server.url)) == b"two"
    assert server.connections == 2


def test_an_abandoned_body_drops_its_connection(serve, http):
    server = serve(_chunked(b"3\r\none\r\n"), _chunked(frame(b"two")))  # the first never ends
    first = _open(http, server.url)
    assert first.read() == b"one"
    first.close()
    assert _read_all(_open(http, server.url)) == b"two"
    assert server.connections == 2


@responses.activate
def test_a_response_without_a_socket_is_read_through_urllib3():
    responses.add(responses.GET, "http://upstream.test/stream", body=b"[1, 2]")
    response = requests.get("http://upstream.test/stream", stream=True, timeout=5)
    body = open_body(response, idle_after=0.1, read_timeout=5)
    assert isinstance(body, RawBody)
    assert _read_all(body) == b"[1, 2]"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1: (cert.pem, key.pem)."""
    return write_self_signed(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize("together", [True, False], ids=["body-with-headers", "body-after-a-pause"])
def test_a_tls_body_is_read_from_its_socket_too(serve, http, certificate, together):
    cert, key = certificate
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    def script(conn: socket.socket, request: bytes) -> None:
        if together:
            conn.sendall(head + frame(b"[1, ", b"2]"))
            return
        conn.sendall(head)
        time.sleep(0.1)  # nothing but the headers has arrived when the body is taken over
        conn.sendall(frame(b"[1, ", b"2]"))

    server = serve(script, script, tls=tls)
    http.verify = str(cert)
    for _ in range(2):
        body = _open(http, server.url, idle_after=0.05)
        assert isinstance(body, SocketBody)
        received, _ = read_counting_idles(body)
        body.close()
        assert received == b"[1, 2]"
    assert server.connections == 1  # the TLS connection was reused


GEVENT_TLS_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import socket, ssl, sys, threading, time
import requests
from gemini_enterprise.body import SocketBody, open_body
from tests.gemini_enterprise.body_reading import read_counting_idles

cert, key = sys.argv[1], sys.argv[2]
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
listener = socket.create_server(("127.0.0.1", 0))

def serve():
    conn, _ = listener.accept()
    conn = tls.wrap_socket(conn, server_side=True)
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        data += conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
    time.sleep(0.1)  # the headers alone arrive first
    conn.sendall(b"3\\r\\n[1]\\r\\n")
    time.sleep(0.25)  # a silence mid-body
    conn.sendall(b"0\\r\\n\\r\\n")
    time.sleep(0.5)  # keep the connection open past the end of the body, as a keep-alive server does

threading.Thread(target=serve, daemon=True).start()
session = requests.Session()
session.trust_env = False  # REQUESTS_CA_BUNDLE from the environment would replace `verify`
session.verify = cert
response = session.get(f"https://127.0.0.1:{listener.getsockname()[1]}/", stream=True, timeout=5)
body = open_body(response, idle_after=0.05, read_timeout=5)
assert isinstance(body, SocketBody)
received, idles = read_counting_idles(body)
assert received == b"[1]" and idles >= 3, (received, idles)
print("ok")
"""


def test_a_tls_body_under_gevent_reports_silences_and_ends_cleanly(certificate):

    cert, key = certificate
    assert_script_prints_ok(GEVENT_TLS_SCRIPT, str(cert), str(key))
