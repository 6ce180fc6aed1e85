"""QuickAckAdapter: upstream responses are read with TCP delayed ACKs off (bench/nagle_probe.py shows why)."""
from __future__ import annotations

import socket

import pytest
import requests
from requests.adapters import HTTPAdapter

from gemini_enterprise.client import _new_session
from gemini_enterprise.transport import QuickAckAdapter, _QuickAckOnResponse
from gemini_enterprise.types import ClientConfig
from tests.gemini_enterprise.scripted_server import LoopbackServer, read_request

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux-only")

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class KeepAliveServer(LoopbackServer):
    """Loopback HTTP/1.1 answering every request with ANSWER on a kept-alive connection.

    With `answers_per_connection`, a connection that has had that many answers is closed, unanswered, when
    the next request arrives on it: a server's idle close that crossed the client's request on the wire.
    """

    def __init__(self, answers_per_connection: int | None = None) -> None:
        self.answers_per_connection = answers_per_connection
        self.requests_seen = 0
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}/"

    def _answer(self, conn: socket.socket) -> None:
        answered = 0
        while read_request(conn) is not None:
            self.requests_seen += 1
            if answered == self.answers_per_connection:
                return
            conn.sendall(ANSWER)
            answered += 1


@pytest.fixture
def server():
    srv = KeepAliveServer()
    yield srv
    srv.close()


class RecordingSocket:
    """A socket that notes the options set on it, and when (before or after the response was read)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.options: list[tuple[int, int, int]] = []

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.options.append((level, option, value))
        self._sock.setsockopt(level, option, value)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def _connection_class(adapter: HTTPAdapter, url: str) -> type:
    return type(adapter.poolmanager.connection_from_url(url)).ConnectionCls


def test_the_transport_sets_tcp_quickack_before_reading_each_answer(server) -> None:
    adapter = QuickAckAdapter()
    connection = _connection_class(adapter, server.url)("127.0.0.1", server.port)
    connection.connect()
    recording = connection.sock = RecordingSocket(connection.sock)
    quickack = (socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    for sent in (1, 2):  # the second request goes out on the kept-alive connection
        connection.request("GET", "/")
        assert recording.options.count(quickack) == sent - 1  # not while sending
        response = connection.getresponse()
        assert recording.options.count(quickack) == sent
        assert response.data == b"ok"
    connection.close()


def test_every_upstream_connection_class_reads_with_quickack_direct_and_through_proxies(server) -> None:
    adapter = QuickAckAdapter()
    managers = [adapter.poolmanager, adapter.proxy_manager_for("http://127.0.0.1:3128"),
                adapter.proxy_manager_for("socks5h://127.0.0.1:1080")]
    for manager in managers:
        for pool_class in manager.pool_classes_by_scheme.values():
            assert issubclass(pool_class.ConnectionCls, _QuickAckOnResponse), (manager, pool_class)
    assert not issubclass(_connection_class(HTTPAdapter(), server.url), _QuickAckOnResponse)


def test_the_gemini_client_session_uses_the_quickack_adapter_and_keeps_connections_alive(server) -> None:
    session: requests.Session = _new_session(None, ClientConfig(auth_url=server.url, api_url=server.url))
    assert isinstance(session.get_adapter(server.url), QuickAckAdapter)
    for _ in range(3):
        assert session.get(server.url, timeout=5).text == "ok"
    pools = session.get_adapter(server.url).poolmanager.pools
    assert len(pools) == 1
    session.close()


def _gemini_session(server: KeepAliveServer) -> requests.Session:
    return _new_session(None, ClientConfig(auth_url=server.url, api_url=server.url))


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_on_a_kept_alive_connection_the_server_closed_goes_again_on_a_fresh_one(method) -> None:
    server = KeepAliveServer(answers_per_connection=1)
    session = _gemini_session(server)
    try:
        for _ in range(3):  # the 2nd and 3rd each meet the connection the server closes after one answer
            response = session.request(method, server.url, json={"q": 1} if method == "POST" else None, timeout=5)
            assert response.text == "ok"
    finally:
        session.close()
        server.close()
    assert server.requests_seen == 5 and server.connections == 3  # two were sent twice, once on a fresh one


def test_a_connection_closed_before_its_first_answer_is_not_retried() -> None:
    server = KeepAliveServer(answers_per_connection=0)  # a server that never answers: that is its fault
    session = _gemini_session(server)
    try:
        with pytest.raises(requests.ConnectionError):
            session.post(server.url, json={"q": 1}, timeout=5)
    finally:
        session.close()
        server.close()
    assert server.requests_seen == 1


def test_a_streamed_body_is_not_sent_again_when_its_kept_alive_connection_was_closed() -> None:
    server = KeepAliveServer(answers_per_connection=1)
    session = _gemini_session(server)
    try:
        assert session.get(server.url, timeout=5).text == "ok"
        with pytest.raises(requests.ConnectionError):  # the generator was used up by the first send
            session.post(server.url, data=iter([b"a", b"b"]), timeout=5)
    finally:
        session.close()
        server.close()
    assert server.requests_seen == 2
