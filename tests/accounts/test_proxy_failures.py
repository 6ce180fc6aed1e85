"""POST /api/proxy/test explains a failure in a sentence; the technical text stays in `detail`, credentials masked."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from accounts.models import PoolSettings
from accounts.proxy_failures import proxy_failure

pytestmark = pytest.mark.django_db
SECRET = "pw-5ecret-77"


class _NeedsCredentials(BaseHTTPRequestHandler):
    """A proxy that wants a Proxy-Authorization header it never gets."""

    def _refuse(self) -> None:
        self.send_response(407)
        self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_CONNECT = _refuse

    def log_message(self, *args) -> None:
        pass


def _serve(handler) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_proxies(settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True


@pytest.fixture
def needs_credentials(private_proxies) -> Iterator[int]:
    yield from _serve(_NeedsCredentials)


@pytest.fixture
def silent_proxy(private_proxies) -> Iterator[int]:
    """Accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def proxy_test(client, **body) -> dict:
    response = client.post("/api/proxy/test", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_refused_connection_is_explained_with_the_proxy_host_and_port(staff_client, private_proxies):
    port = closed_port()
    data = proxy_test(staff_client, proxy=f"http://user:{SECRET}@127.0.0.1:{port}", timeout=2)
    assert data["reachable"] is False
    assert data["error"] == f"Could not connect to the proxy at 127.0.0.1:{port}: connection refused."
    assert data["detail"] and SECRET not in json.dumps(data)


@pytest.mark.parametrize("target", ["http://upstream.invalid/probe", "https://upstream.invalid/probe"])
def test_a_proxy_asking_for_credentials_says_so(staff_client, settings, needs_credentials, target):
    settings.GEMPOOL_PROXY_TEST_URL = target
    data = proxy_test(staff_client, proxy=f"http://127.0.0.1:{needs_credentials}")
    assert data["reachable"] is False
    assert data["error"] == (f"The proxy at 127.0.0.1:{needs_credentials} answered with HTTP 407: it needs "
                             "credentials (or refused the ones given).")


def test_a_proxy_that_never_answers_times_out_with_the_seconds_waited(staff_client, settings, silent_proxy):
    settings.GEMPOOL_PROXY_TEST_URL = "http://upstream.invalid/probe"
    data = proxy_test(staff_client, proxy=f"http://127.0.0.1:{silent_proxy}", timeout=1)
    assert data["reachable"] is False and data["error"].startswith("Timed out after 1 s")


def test_the_stored_last_test_keeps_the_sentence(staff_client, private_proxies):
    port = closed_port()
    PoolSettings.objects.update_or_create(pk=1, defaults={"proxy_url": f"http://127.0.0.1:{port}"})
    proxy_test(staff_client, timeout=2)
    last = staff_client.get("/api/proxy/status").json()["last_test"]
    assert last["error"] == f"Could not connect to the proxy at 127.0.0.1:{port}: connection refused."


def _chained(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(("exc", "sentence"), [
    (_chained(requests.exceptions.ProxyError("Cannot connect to proxy."), socket.gaierror(-2, "Name unknown")),
     "Could not find the proxy host of proxy.example:3128: the name does not resolve."),
    (requests.exceptions.ProxyError("Unable to connect to proxy: Tunnel connection failed: 403 Forbidden"),
     "The proxy at proxy.example:3128 refused to connect to upstream.example (it answered HTTP 403)."),
    (requests.exceptions.SSLError("certificate verify failed"),
     "The secure (TLS) connection to upstream.example through the proxy at proxy.example:3128 failed."),
    (requests.exceptions.ConnectTimeout("timed out"), "Timed out after 2.5 s connecting to the proxy at "
                                                      "proxy.example:3128."),
    (requests.exceptions.InvalidSchema("Missing dependencies for SOCKS support."),
     "The proxy address proxy.example:3128 cannot be used: its scheme or form is not supported here."),
])
def test_each_kind_of_failure_has_its_own_sentence_and_keeps_credentials_out(exc, sentence):
    proxy = f"http://user:{SECRET}@proxy.example:3128"
    exc.args = (f"{exc.args[0]} via {proxy}",)
    failure = proxy_failure(exc, proxy=proxy, masked_proxy="http://••••:••••@proxy.example:3128",
                            target="https://upstream.example/probe", timeout=2.5)
    assert failure.message == sentence
    assert SECRET not in failure.message + failure.detail and "proxy.example" in failure.detail
