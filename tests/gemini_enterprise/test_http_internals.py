"""Pins every urllib3 / http.client internal that gemini_enterprise/http_internals.py reads.

If one of these fails after a dependency upgrade, SocketBody's assumptions no longer hold: fix
http_internals.py for the new version (or give up the socket reader) before shipping the upgrade.
"""
from __future__ import annotations

import http.client
import io
import socket
from collections.abc import Iterator

import pytest
import requests

from gemini_enterprise.http_internals import release_to_pool, wire_of
from tests.gemini_enterprise.scripted_server import LoopbackServer, read_request

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
SIZED = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CLOSING = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"


class OneAnswerServer(LoopbackServer):
    """Loopback HTTP/1.1: answers every request with the same bytes, keeps connections open; counts them."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/"

    def _answer(self, conn: socket.socket) -> None:
        while read_request(conn) is not None:
            conn.sendall(self.answer)


@pytest.fixture
def serve() -> Iterator:
    servers: list[OneAnswerServer] = []

    def make(answer: bytes) -> OneAnswerServer:
        servers.append(OneAnswerServer(answer))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def _read_to_end(wire) -> bytes:
    wire.sock.settimeout(5)
    data = bytearray(wire.buffered.read1(65536))
    while not data.endswith(b"0\r\n\r\n") and not data.endswith(b"hello"):
        data += wire.sock.recv(65536)
    return bytes(data)


def test_a_streamed_response_exposes_http_clients_response_reader_and_socket(serve, session):
    server = serve(CHUNKED)
    response = session.get(server.url, stream=True, timeout=5)
    wire = wire_of(response.raw)
    assert wire is not None, "urllib3's HTTPResponse._fp / http.client's fp / connection.sock moved"
    assert isinstance(wire.http_response, http.client.HTTPResponse)
    assert isinstance(wire.buffered, io.BufferedReader) and callable(wire.buffered.read1)
    assert isinstance(wire.sock, socket.socket) and wire.sock.getpeername() == server.address
    assert (wire.chunked, wire.length, wire.mid_chunk) == (True, None, False)
    response.close()


def test_a_sized_response_reports_its_length(serve, session):
    response = session.get(serve(SIZED).url, stream=True, timeout=5)
    wire = wire_of(response.raw)
    assert (wire.chunked, wire.length, wire.mid_chunk) == (False, 5, False)
    assert wire.http_response.chunk_left == http.client._UNKNOWN  # not None: why mid_chunk looks at `chunked`
    response.close()


def test_a_chunked_response_read_into_a_chunk_by_http_client_is_mid_chunk(serve, session):
    response = session.get(serve(CHUNKED).url, stream=True, timeout=5)
    assert response.raw.read(2) == b"he"  # through urllib3 and http.client's own chunk reader
    wire = wire_of(response.raw)
    assert wire.mid_chunk is True and wire.http_response.chunk_left == 3
    response.close()


def test_body_bytes_that_came_with_the_headers_wait_in_the_reader_not_the_socket(serve, session):
    response = session.get(serve(CHUNKED).url, stream=True, timeout=5)
    wire = wire_of(response.raw)
    wire.sock.settimeout(0.0)  # body.py's _drain: read1 must hand over the buffer without blocking
    assert wire.buffered.read1(65536) == b"5\r\nhello\r\n0\r\n\r\n"
    response.close()


def test_a_response_the_server_will_close_owns_its_socket_through_the_reader(serve, session):
    server = serve(CLOSING)
    response = session.get(server.url, stream=True, timeout=5)
    wire = wire_of(response.raw)
    assert wire is not None, "a closing response's buffered reader no longer has raw._sock"
    assert wire.sock.getpeername() == server.address
    assert wire.http_response.will_close is True
    _read_to_end(wire)
    assert release_to_pool(response.raw) is False
    response.close()


def test_releasing_a_fully_read_response_puts_its_connection_back_for_the_next_call(serve, session):
    server = serve(CHUNKED)
    for _ in range(3):
        response = session.get(server.url, stream=True, timeout=5)
        wire = wire_of(response.raw)
        assert wire.http_response.will_close is False
        assert _read_to_end(wire).endswith(b"0\r\n\r\n")
        assert release_to_pool(response.raw) is True
        assert response.raw.connection is None  # urllib3's release_conn let go of it
        response.close()
    assert server.connections == 1


def test_a_response_without_a_socket_has_no_wire():
    class NoSocket:  # what `responses` and other mocks hand out: no http.client response underneath
        _fp = io.BytesIO(b"hello")

    assert wire_of(NoSocket()) is None
