"""The lean HTTP/1.1 client (gemini_enterprise/http11.py) against loopback servers that script every byte."""
from __future__ import annotations

import gzip
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import requests

from gemini_enterprise import http11
from gemini_enterprise.auth import CachedJwt, MemoryTokenStore
from gemini_enterprise.body import BodyIdle, SocketBody
from gemini_enterprise.client import GeminiClient
from gemini_enterprise.errors import LoginRequired, RateLimited, Unavailable
from gemini_enterprise.http11 import Http11Client, header_block
from gemini_enterprise.types import ClientConfig, Credentials
from tests.blackhole import blackhole_url
from tests.garbage import cyclic_garbage_of
from tests.gemini_enterprise.body_reading import read_counting_idles
from tests.gemini_enterprise.scripted_server import close_unanswered, frame, hang, send
from tests.gemini_enterprise.self_signed import write_self_signed
from tests.polling import wait_until
from tests.script_run import assert_script_prints_ok

TIMEOUT = (2.0, 5.0)
HEADERS = header_block({"accept": "*/*", "user-agent": "lean-test"})
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

@pytest.fixture
def lean() -> Iterator[Http11Client]:
    with Http11Client(pool_maxsize=4) as client:
        yield client


def get(client: Http11Client, url: str, **kwargs) -> requests.Response:
    return client.request("GET", url, headers=HEADERS, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


# ---- requests on the wire ---------------------------------------------------------------------------------


def test_a_request_goes_out_with_host_length_headers_and_body(serve, lean) -> None:
    server = serve(send(OK))
    response = lean.request("POST", server.url, headers=HEADERS, body=b'{"a": 1}', params={"q": "x y"},
                            timeout=TIMEOUT)
    assert (response.status_code, response.content) == (200, b"ok")
    port = server.url.split(":")[2].split("/")[0]
    assert server.requests == [b"POST /path?q=x+y HTTP/1.1\r\nHost: 127.0.0.1:" + port.encode()
                               + b"\r\naccept: */*\r\nuser-agent: lean-test\r\nContent-Length: 8\r\n\r\n"
                               + b'{"a": 1}']


def test_a_body_in_pieces_is_sent_in_order_with_its_total_length(serve, lean) -> None:
    class Pieces:
        def __len__(self) -> int:
            return 6

        def __iter__(self):
            yield from (b"ab", b"cd", b"ef")

    server = serve(send(OK))
    assert lean.request("POST", server.url, headers=HEADERS, body=Pieces(), timeout=TIMEOUT).content == b"ok"
    assert server.requests[0].endswith(b"Content-Length: 6\r\n\r\nabcdef")


@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\nb", "a\0b", "caf\u00e9\u2603"])
def test_a_header_value_that_would_break_its_line_is_refused_without_echoing_it(value) -> None:
    with pytest.raises(requests.exceptions.InvalidHeader) as info:
        header_block({"user-agent": value})
    assert value not in str(info.value)


# ---- bodies -----------------------------------------------------------------------------------------------


def test_sized_chunked_and_close_delimited_bodies_are_read_whole(serve, lean) -> None:
    sized = serve(send(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello", b" world"))
    chunked = serve(send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"lo\r\n6\r\n world\r\n",
                         b"0\r\nx-trailer: 1\r\n\r\n"))
    delimited = serve(send(b"HTTP/1.1 200 OK\r\n\r\nhello", b" world", keep_open=False))
    for server in (sized, chunked, delimited):
        assert get(lean, server.url).content == b"hello world"
    assert lean.idle_count(sized.url) == 1 and lean.idle_count(chunked.url) == 1
    assert lean.idle_count(delimited.url) == 0  # its end was the connection's


# Named ids and mtime=0: a test id built from gzip bytes holds the time they were made, and xdist refuses
# workers that collected different ids.
@pytest.mark.parametrize(("coding", "encoded"), [
    ("gzip", gzip.compress(b'{"x": "compressed"}', mtime=0)),
    ("deflate", zlib.compress(b'{"x": "compressed"}')),
    ("deflate", zlib.compress(b'{"x": "compressed"}')[2:-4]),  # raw deflate, as some servers send it
], ids=["gzip", "zlib-deflate", "raw-deflate"])
def test_gzip_and_deflate_bodies_are_decoded(serve, lean, coding, encoded) -> None:
    sized = serve(send(b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n%s"
                       % (coding.encode(), len(encoded), encoded)))
    chunked = serve(send(b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n%s"
                         % (coding.encode(), frame(encoded[:5], encoded[5:]))))
    for server in (sized, chunked):
        assert get(lean, server.url).content == b'{"x": "compressed"}'


def test_a_body_cut_short_is_a_chunked_encoding_error_and_its_connection_is_dropped(serve, lean) -> None:
    server = serve(send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", keep_open=False))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(lean, server.url)
    assert lean.idle_count(server.url) == 0


def test_headers_are_lower_case_with_repeats_joined_and_1xx_answers_skipped(serve, lean) -> None:
    server = serve(send(b"HTTP/1.1 100 Continue\r\n\r\n",
                        b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nX-A: 1\r\nx-a: 2\r\n"
                        b"Content-Length: 0\r\n\r\n"))
    response = get(lean, server.url)
    assert response.status_code == 429 and response.reason == "Too Many Requests"
    assert response.headers["retry-after"] == "7" and response.headers["x-a"] == "1, 2"


@pytest.mark.parametrize("answer", [b"HTTP/2 200 OK\r\n\r\n", b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 2000 OK\r\n\r\n",
                                    b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx",
                                    b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"])
def test_an_answer_that_is_not_http_1_is_a_connection_error(serve, lean, answer) -> None:
    server = serve(send(answer))
    with pytest.raises(requests.exceptions.ConnectionError):
        get(lean, server.url)
    assert lean.idle_count(server.url) == 0


# ---- the pool ---------------------------------------------------------------------------------------------


def test_a_kept_alive_connection_serves_the_next_request(serve, lean) -> None:
    server = serve(*[send(OK)] * 3)
    for _ in range(3):
        assert get(lean, server.url).content == b"ok"
    assert server.connections == 1 and lean.idle_count(server.url) == 1


def test_a_connection_the_server_will_close_is_not_kept(serve, lean) -> None:
    server = serve(send(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
                   send(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), send(OK))
    for _ in range(3):
        assert get(lean, server.url).content == b"ok"
    assert server.connections == 3


def test_a_pooled_connection_the_server_closed_is_noticed_before_use(serve, lean, caplog) -> None:
    server = serve(send(OK, keep_open=False), send(OK))
    assert get(lean, server.url).content == b"ok"
    assert wait_until(lambda: server.closed == 1, timeout=5) is not None
    caplog.set_level(logging.INFO, logger="gemini_enterprise.http11")
    assert get(lean, server.url).content == b"ok"
    assert server.connections == 2
    assert "sending again" not in caplog.text  # the closed one was dropped at checkout, not sent on


def test_a_request_meeting_a_server_side_close_goes_again_on_a_new_connection(serve, lean, caplog) -> None:
    caplog.set_level(logging.INFO, logger="gemini_enterprise.http11")
    server = serve(send(OK), close_unanswered, send(OK))  # the idle close crosses the second request
    assert get(lean, server.url).content == b"ok"
    assert get(lean, server.url).content == b"ok"
    assert server.connections == 2 and len(server.requests) == 3
    assert "upstream closed a kept-alive connection; sending again" in caplog.text


def test_a_new_connection_closed_unanswered_is_not_tried_again(serve, lean) -> None:
    server = serve(send(OK), close_unanswered, close_unanswered, send(OK))
    get(lean, server.url)
    with pytest.raises(requests.exceptions.ConnectionError):
        get(lean, server.url)  # stale kept-alive one, then a new one that fails too: two sends, no more
    assert len(server.requests) == 3 and server.connections == 2


def test_the_pool_keeps_at_most_pool_maxsize_idle_connections(serve) -> None:
    server = serve(*[send(OK)] * 3)
    with Http11Client(pool_maxsize=2) as client:
        responses = [get(client, server.url, stream=True) for _ in range(3)]  # three connections in use
        for response in responses:
            assert response.content == b"ok"
            response.close()
        assert server.connections == 3 and client.idle_count(server.url) == 2


def test_an_abandoned_response_closes_its_connection(serve, lean) -> None:
    server = serve(send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"), send(OK))
    response = get(lean, server.url, stream=True)
    response.close()
    assert lean.idle_count(server.url) == 0
    assert get(lean, server.url).content == b"ok" and server.connections == 2


# ---- redirects, errors, timeouts --------------------------------------------------------------------------


def test_a_redirect_is_returned_not_followed(serve, lean) -> None:
    server = serve(send(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"), send(OK))
    response = get(lean, server.url)
    assert response.status_code == 302 and response.headers["location"] == "/elsewhere"
    assert len(server.requests) == 1
    assert lean.idle_count(server.url) == 1  # an empty body read to its end: the connection is reusable


def test_an_error_body_is_read_up_to_the_limit(serve, lean) -> None:
    server = serve(send(b"HTTP/1.1 500 Oops\r\nContent-Length: 10\r\n\r\n0123456789"))
    with get(lean, server.url, stream=True) as response:
        assert response.read(4) == b"0123"


def test_a_silent_server_is_a_read_timeout(serve, lean) -> None:
    server = serve(hang(3))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(lean, server.url, timeout=(2.0, 0.3))
    assert time.monotonic() - started < 2


CLOSE_OK = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def lookups(monkeypatch) -> list[tuple]:
    """Every address lookup the client makes, answered as the system would."""
    seen: list[tuple] = []
    real = socket.getaddrinfo

    def counting(*args, **kwargs):
        seen.append(args[:2])
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counting)
    return seen


def test_new_connections_to_an_origin_reuse_its_addresses_for_a_while(serve, lean, lookups, monkeypatch) -> None:
    server = serve(*[send(CLOSE_OK)] * 4)
    for _ in range(3):
        assert get(lean, server.url).content == b"ok"
    assert server.connections == 3 and len(lookups) == 1
    later = time.monotonic() + http11.RESOLVED_FOR + 1
    monkeypatch.setattr(http11, "time", SimpleNamespace(monotonic=lambda: later))
    assert get(lean, server.url).content == b"ok"
    assert len(lookups) == 2


@pytest.fixture
def slow_lookups(monkeypatch) -> SimpleNamespace:
    """Address lookups that wait for `answer` to be set before answering as the system would."""
    state = SimpleNamespace(calls=0, answer=threading.Event(), started=threading.Event())
    real = socket.getaddrinfo

    def waiting(*args, **kwargs):
        state.calls += 1
        state.started.set()
        assert state.answer.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", waiting)
    return state


def _get_in_threads(client: Http11Client, url: str, count: int) -> tuple[list[threading.Thread], list[bytes]]:
    bodies: list[bytes] = []
    threads = [threading.Thread(target=lambda: bodies.append(get(client, url).content)) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, bodies


def test_callers_that_find_no_addresses_yet_wait_for_one_lookup(serve, lean, slow_lookups) -> None:
    server = serve(*[send(CLOSE_OK)] * 4)
    threads, bodies = _get_in_threads(lean, server.url, 4)
    assert slow_lookups.started.wait(10)
    slow_lookups.answer.set()
    for thread in threads:
        thread.join(10)
    assert bodies == [b"ok"] * 4 and slow_lookups.calls == 1


def test_addresses_due_again_are_looked_up_by_one_caller_while_the_others_use_the_last_answer(
        serve, lean, slow_lookups, monkeypatch) -> None:
    server = serve(*[send(CLOSE_OK)] * 5)
    slow_lookups.answer.set()
    assert get(lean, server.url).content == b"ok"
    slow_lookups.answer.clear()
    slow_lookups.started.clear()
    later = time.monotonic() + http11.RESOLVED_FOR + 1
    monkeypatch.setattr(http11, "time", SimpleNamespace(monotonic=lambda: later))
    threads, bodies = _get_in_threads(lean, server.url, 4)
    assert slow_lookups.started.wait(10)
    # the three that did not look up were not held back by the one that did
    assert wait_until(lambda: len(bodies) == 3, timeout=10) is not None
    slow_lookups.answer.set()
    for thread in threads:
        thread.join(10)
    assert bodies == [b"ok"] * 4 and slow_lookups.calls == 2


def test_addresses_none_of_which_answered_are_looked_up_again(lean, lookups) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    for _ in range(2):
        with pytest.raises(requests.exceptions.ConnectionError):
            get(lean, f"http://127.0.0.1:{port}/")
    assert lookups == [("127.0.0.1", port)] * 2


def test_a_connect_that_does_not_complete_is_a_connect_timeout(lean) -> None:
    with blackhole_url() as url:
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ConnectTimeout):
            get(lean, url + "/", timeout=(0.3, 5.0))
        assert time.monotonic() - started < 2


def test_a_refused_connect_is_a_connection_error(lean) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(requests.exceptions.ConnectionError):
        get(lean, f"http://127.0.0.1:{port}/")


# ---- streams ----------------------------------------------------------------------------------------------


def test_a_streamed_body_reports_silences_and_gives_its_connection_back_at_the_end(serve, lean) -> None:
    def slow(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n")
        time.sleep(0.3)
        conn.sendall(b"2\r\n2]\r\n0\r\n\r\n")

    server = serve(slow, send(OK))
    response = get(lean, server.url, stream=True)
    body = response.open_body(idle_after=0.05, read_timeout=5)
    assert isinstance(body, SocketBody)
    received, idles = read_counting_idles(body)
    body.close()
    assert received == b"[1,2]" and idles >= 2
    assert lean.idle_count(server.url) == 1
    assert get(lean, server.url).content == b"ok" and server.connections == 1


def test_a_streamed_body_read_and_closed_leaves_nothing_for_the_garbage_collector(serve, lean) -> None:
    """A relayed stream's response and body live through every upstream wait, old enough by the end to reach
    the collector's oldest generation: they must be freed when dropped, not by a full collection."""
    server = serve(send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1]\r\n0\r\n\r\n"),
                   send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[2]\r\n0\r\n\r\n"))

    def stream_once() -> None:
        response = get(lean, server.url, stream=True)
        body = response.open_body(idle_after=0.05, read_timeout=5)
        assert read_counting_idles(body)[0] in (b"[1]", b"[2]")
        body.close()

    stream_once()  # the first opens the connection the second reuses
    leftovers = [type(item).__qualname__ for item in cyclic_garbage_of(stream_once)
                 if type(item).__module__.startswith("gemini_enterprise.")]
    assert leftovers == []


def test_a_stream_silent_for_the_read_timeout_times_out(serve, lean) -> None:
    def start_then_hang(conn: socket.socket, request: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n")
        time.sleep(2)

    server = serve(start_then_hang)
    body = get(lean, server.url, stream=True).open_body(idle_after=0.05, read_timeout=0.2)
    assert body.read() == b"["
    with pytest.raises(TimeoutError):
        while True:
            try:
                body.read()
            except BodyIdle:
                continue
    body.close()
    assert lean.idle_count(server.url) == 0


# ---- TLS --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory) -> ssl.SSLContext:
    pytest.importorskip("cryptography", reason="the self-signed certificate is made with `cryptography`")
    cert, key = write_self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_a_self_signed_certificate_fails_verification_and_passes_without_it(serve, server_tls) -> None:
    server = serve(send(OK), send(OK), send(OK), tls=server_tls)
    with Http11Client(verify_tls=True) as verifying, pytest.raises(requests.exceptions.SSLError):
        get(verifying, server.url)
    with Http11Client(verify_tls=False) as trusting:
        for _ in range(2):
            assert get(trusting, server.url).content == b"ok"
        assert trusting.idle_count(server.url) == 1
    assert server.connections == 2  # the refused one, then one kept alive for both requests


GEVENT_SCRIPT = """
from gevent import monkey
monkey.patch_all()
import socket, sys, threading, time
from gemini_enterprise import http11
from gemini_enterprise.http11 import Http11Client, header_block
from tests.blackhole import blackhole_url
from tests.gemini_enterprise.body_reading import read_counting_idles

listener = socket.create_server(("127.0.0.1", 0))
connections = []

def serve():
    conn, _ = listener.accept()
    connections.append(conn)
    for answer in range(3):
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            data += conn.recv(65536)
        if answer < 2:
            conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
            continue
        conn.sendall(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n3\\r\\n[1]\\r\\n")
        time.sleep(0.25)
        conn.sendall(b"0\\r\\n\\r\\n")
    time.sleep(1)

threading.Thread(target=serve, daemon=True).start()
url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
client = Http11Client()
headers = header_block({"accept": "*/*"})
for _ in range(2):  # the second goes through the checkout check on a gevent socket
    assert client.request("GET", url, headers=headers, timeout=(2, 5)).content == b"ok"
response = client.request("GET", url, headers=headers, timeout=(2, 5), stream=True)
received, idles = read_counting_idles(response.open_body(idle_after=0.05, read_timeout=5))
assert received == b"[1]" and idles >= 3, (received, idles)
assert len(connections) == 1, len(connections)
print("ok")
"""


def test_under_gevent_kept_alive_connections_are_reused_and_streams_report_silences() -> None:
    pytest.importorskip("gevent")
    assert_script_prints_ok(GEVENT_SCRIPT)


# ---- GeminiClient's choice of client ----------------------------------------------------------------------


def test_direct_calls_use_the_lean_client_unless_requests_is_configured(sim_config, creds) -> None:
    with GeminiClient(sim_config) as lean_client:
        lean_client.create_session(creds)
        assert lean_client._lean.idle_count(sim_config.api_url) == 1
        assert lean_client._sessions == {}  # no requests session was needed
    config = ClientConfig(**{**sim_config.__dict__, "upstream_client": "requests"})
    with GeminiClient(config) as requests_client:
        requests_client.create_session(creds)
        assert requests_client._lean is None and None in requests_client._sessions


def test_proxied_calls_keep_using_requests(sim_config) -> None:
    proxied = Credentials(key="p", team_id="t", csesidx="1", secure_c_ses="s", proxy="socks5://127.0.0.1:9")
    with GeminiClient(sim_config) as client:
        assert client._lean_for(proxied.proxy) is None and client._lean_for(None) is client._lean


def test_an_unknown_upstream_client_is_refused() -> None:
    with pytest.raises(ValueError, match="upstream_client"):
        GeminiClient(ClientConfig(upstream_client="curl"))


def _client_with_jwt(url: str, creds: Credentials, **config) -> GeminiClient:
    store = MemoryTokenStore()
    store.put(creds.key, CachedJwt("header.payload.signature", time.time()), ttl=60)
    return GeminiClient(ClientConfig(auth_url=url, api_url=url, **config), token_store=store)


CREDS = Credentials(key="acct-lean", team_id="t", csesidx="1", secure_c_ses="SES-SECRET")


def test_failures_reach_the_caller_as_unavailable_named_by_requests_exception_type(serve) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    refusing = f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()
    silent = serve(hang(3))
    for url, reason in ((refusing, "ConnectionError"), (silent.url.removesuffix("/path"), "ReadTimeout")):
        with _client_with_jwt(url, CREDS, connect_timeout=1, read_timeout=0.3) as client, \
                pytest.raises(Unavailable) as info:
            client.create_session(CREDS)
        assert info.value.reason == reason and "127.0.0.1" not in str(info.value)


def test_a_getoxsrf_redirect_over_the_lean_client_means_login_required(serve) -> None:
    server = serve(send(b"HTTP/1.1 302 Found\r\nLocation: /refreshcookies\r\nContent-Length: 0\r\n\r\n"))
    config = ClientConfig(auth_url=server.url.removesuffix("/path"), api_url="http://unused.test")
    with GeminiClient(config) as client, pytest.raises(LoginRequired) as info:
        client.check_login(CREDS)
    assert info.value.reason == "REDIRECT" and len(server.requests) == 1
    assert server.requests[0].startswith(b"GET /auth/getoxsrf?csesidx=1 HTTP/1.1\r\n")
    assert b"cookie: __Secure-C_SES=SES-SECRET\r\n" in server.requests[0]


def test_an_error_status_is_mapped_from_its_body_as_on_the_requests_path(serve) -> None:
    body = b'{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "slow down"}}'
    server = serve(send(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: %d\r\n\r\n%s"
                        % (len(body), body)))
    with _client_with_jwt(server.url.removesuffix("/path"), CREDS) as client, pytest.raises(RateLimited) as info:
        client.stream_assist(CREDS, session="s", query="hi")
    assert info.value.retry_after == 30 and info.value.reason == "RESOURCE_EXHAUSTED"
