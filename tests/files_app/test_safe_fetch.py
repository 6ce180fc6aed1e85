"""Client-supplied image URLs: what is refused (no network needed) and the pinned, capped success path.

Nothing here leaves the machine: refusals use literal addresses or a stubbed getaddrinfo, and the
success path talks to local servers, reached through names that the stub resolves to 127.0.0.1 (with
GEMPOOL_URL_FETCH_ALLOW_PRIVATE on, which exists for exactly this).
"""
from __future__ import annotations

import datetime
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from files_app import safe_fetch
from gempool_site.exceptions import BadRequestError

from .conftest import PNG

_real_getaddrinfo = socket.getaddrinfo


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies: a missing Content-Length is legal

    def log_message(self, *args) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:  # noqa: N802
        self.server.hosts.append(self.headers.get("Host"))
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        route = getattr(self, "route_" + url.path.strip("/").replace("-", "_").replace(".", "_"), None)
        if route is None:
            self._send(404, b"nope", "text/plain")
        else:
            route(query)

    def _send(self, status: int, body: bytes, content_type: str, *, length: bool = True, **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_img_png(self, query) -> None:
        self._send(200, PNG, "image/png")

    def route_octet(self, query) -> None:
        self._send(200, PNG, "application/octet-stream")

    def route_heic(self, query) -> None:
        self._send(200, b"\0\0\0\x18ftypheic" + bytes(32), "image/heic")

    def route_page(self, query) -> None:
        self._send(200, b"<html>hi</html>", "text/html")

    def route_svg(self, query) -> None:
        self._send(200, b"<svg/>", "image/svg+xml")

    def route_big(self, query) -> None:
        self._send(200, PNG + bytes(4096), "image/png", length="nolength" not in query)

    def route_redirect(self, query) -> None:
        self._send(int(query.get("status", ["302"])[0]), b"", "text/plain", Location=query["to"][0])

    def route_loop(self, query) -> None:
        self._send(302, b"", "text/plain", Location="/loop")

    def route_slow(self, query) -> None:
        time.sleep(3)  # a server slower than the fetch timeout
        self._send(200, PNG, "image/png")

    def route_trickle(self, query) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        try:
            for byte in PNG * 10:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.05)  # a byte at a time, never silent long enough to time out a read
        except OSError:
            pass  # the client gave up, as it should


def _serve(tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.handle_error = lambda *args: None  # a client hanging up on /slow or /trickle is the point
    server.hosts = []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def http_server():
    server = _serve()
    yield server
    server.shutdown()
    server.server_close()


class _StubDns:
    """Names set with `dns[name] = [ip, ...]` resolve to those addresses; lookups are counted."""

    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self.lookups: Counter[str] = Counter()

    def __setitem__(self, name: str, ips: list[str]) -> None:
        self.table[name] = ips

    def getaddrinfo(self, host, port, *args, **kwargs):
        if host in self.table:
            self.lookups[host] += 1
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)) if ":" in ip
                    else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in self.table[host]]
        if isinstance(host, str) and _is_literal(host):
            return _real_getaddrinfo(host, port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")  # never the real DNS


@pytest.fixture
def dns(monkeypatch) -> _StubDns:
    stub = _StubDns()
    monkeypatch.setattr(socket, "getaddrinfo", stub.getaddrinfo)
    return stub


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@pytest.fixture
def allow_loopback(settings):
    settings.GEMPOOL_URL_FETCH_ALLOW_PRIVATE = True


def _refused(url: str, match: str, **kwargs) -> BadRequestError:
    """The refusal, matched against its message and (for host refusals) the reason only the log gets."""
    with pytest.raises(BadRequestError) as info:
        safe_fetch.fetch_image_url(url, **kwargs)
    error = info.value
    assert re.search(match, f"{error.message} [{getattr(error, 'reason', '')}]"), (match, error.message)
    assert error.status == 400 and error.code == "invalid_image_url"
    return error


# ---- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["ftp://example.com/a.png", "file:///etc/passwd", "gopher://x/", "data:image/png,x",
                                 "javascript:alert(1)", "//example.com/a.png", "/relative.png"])
def test_only_http_and_https_are_fetched(url, dns):
    error = _refused(url, "only http and https", param="messages[0].content[0].image_url")
    assert error.param == "messages[0].content[0].image_url"


@pytest.mark.parametrize(("host", "kind"), [
    ("127.0.0.1", "loopback"), ("127.1.2.3", "loopback"), ("[::1]", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("[fc00::1]", "private"),
    ("169.254.1.1", "link-local"), ("[fe80::1]", "link-local"),
    ("169.254.169.254", "cloud metadata"), ("[fd00:ec2::254]", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("100.64.0.1", "CGNAT"), ("100.127.255.254", "CGNAT"),
    ("0.0.0.0", "unspecified"), ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"), ("[ff02::1]", "multicast"),
    ("240.0.0.1", "reserved"), ("255.255.255.255", "address"),
    ("[::ffff:127.0.0.1]", "loopback"), ("[::ffff:169.254.169.254]", "cloud metadata"),
    ("[::ffff:10.1.1.1]", "private"), ("[64:ff9b::a00:1]", "private"), ("[2002:7f00:1::]", "loopback"),
    ("192.0.2.10", "address"),  # TEST-NET documentation range: not global either
])
def test_internal_addresses_are_refused(host, kind, dns):
    _refused(f"http://{host}/a.png", f"resolves to .*{kind}")


def test_numeric_tricks_for_loopback_are_refused(dns):
    dns["2130706433"] = ["127.0.0.1"]  # what libc would make of http://2130706433/
    dns["0x7f.1"] = ["127.0.0.1"]
    _refused("http://2130706433/a.png", "loopback")
    _refused("http://0x7f.1/a.png", "loopback")


def test_names_are_checked_after_resolution(dns):
    dns["intranet.example"] = ["10.20.30.40"]
    dns["rebind.example"] = ["93.184.215.14", "127.0.0.1"]  # one bad answer is enough
    dns["v6.example"] = ["fd12::7"]
    _refused("http://intranet.example/cat.png", r"intranet.example is unknown .*\[resolves to a private address")
    _refused("https://rebind.example/cat.png", "loopback")
    _refused("http://v6.example/cat.png", "private")


@pytest.mark.parametrize("host", ["metadata.google.internal", "METADATA.google.internal.", "metadata"])
def test_metadata_names_are_refused_without_a_lookup(host, dns):
    _refused(f"http://{host}/computeMetadata/v1/", "cloud metadata endpoint")
    assert not dns.lookups


def test_metadata_addresses_stay_refused_when_private_ones_are_allowed(dns, allow_loopback):
    _refused("http://169.254.169.254/latest/meta-data/", "cloud metadata")
    _refused("http://[::ffff:a9fe:a9fe]/", "cloud metadata")


def test_unknown_and_internal_hosts_get_the_same_answer(dns):
    """Different messages would let a client map the internal DNS through the refusals."""
    dns["intranet.example"] = ["10.20.30.40"]
    unknown = _refused("http://nowhere.invalid/a.png", "could not be resolved")
    internal = _refused("http://intranet.example/a.png", "private")
    assert unknown.message.replace("nowhere.invalid", "H") == internal.message.replace("intranet.example", "H")
    assert "resolve" not in unknown.message and "private" not in internal.message


def test_unresolvable_hosts_credentials_and_garbage_are_refused(dns):
    _refused("http://nowhere.invalid/a.png", "could not be resolved")
    _refused("http://user:pass@example.com/a.png", "credentials")
    _refused("http://example.com:99999/a.png", "malformed")
    _refused("http:///a.png", "no host")
    _refused("http://[::1/a.png", "malformed")


# ---- the success path (loopback allowed, local servers) -----------------------------------------


def test_an_image_is_fetched_from_the_checked_address_with_the_right_host(http_server, dns, allow_loopback):
    dns["images.example"] = ["127.0.0.1"]
    port = http_server.server_address[1]
    assert safe_fetch.fetch_image_url(f"http://images.example:{port}/img.png") == (PNG, "image/png")
    assert http_server.hosts[-1] == f"images.example:{port}"
    assert dns.lookups["images.example"] == 1  # pinned: no second lookup when connecting


def test_the_type_comes_from_the_bytes_or_an_image_header(http_server, dns, allow_loopback):
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    assert safe_fetch.fetch_image_url(f"{base}/octet")[1] == "image/png"
    assert safe_fetch.fetch_image_url(f"{base}/heic")[1] == "image/heic"
    _refused(f"{base}/page", "did not return an image .*text/html")
    _refused(f"{base}/svg", "did not return an image")
    _refused(f"{base}/missing", "HTTP 404")


def test_redirects_are_followed_and_each_hop_rechecked(http_server, dns, allow_loopback):
    dns["images.example"] = ["127.0.0.1"]
    port = http_server.server_address[1]
    base = f"http://127.0.0.1:{port}"
    hop = f"{base}/redirect?to=http://images.example:{port}/img.png"
    assert safe_fetch.fetch_image_url(f"{base}/redirect?status=301&to=/redirect%3Fto%3D{hop}")[0] == PNG
    _refused(f"{base}/redirect?to=http://169.254.169.254/latest/meta-data/", "cloud metadata")
    _refused(f"{base}/redirect?to=file:///etc/passwd", "only http and https")
    _refused(f"{base}/loop", "more than 3 redirects")


def test_a_redirect_into_the_private_network_is_refused(http_server, dns, monkeypatch):
    # Treat only the test server's address as public, so the first hop passes and the redirect is judged.
    real = safe_fetch.address_problem
    monkeypatch.setattr(safe_fetch, "address_problem",
                        lambda ip, allow_private=False: None if str(ip) == "127.0.0.1" else real(ip))
    dns["db.internal.example"] = ["192.168.0.5"]
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    assert safe_fetch.fetch_image_url(f"{base}/img.png")[0] == PNG
    _refused(f"{base}/redirect?to=http://db.internal.example/x.png",
             r"db.internal.example is unknown.*\[resolves to a private")
    _refused(f"{base}/redirect?to=http://10.0.0.1/x.png", "private")


def test_the_size_is_capped_with_or_without_a_content_length(http_server, allow_loopback):
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    _refused(f"{base}/big", "larger than the 1024 byte limit", max_bytes=1024)
    _refused(f"{base}/big?nolength", "larger than the 1024 byte limit", max_bytes=1024)
    assert len(safe_fetch.fetch_image_url(f"{base}/big", max_bytes=len(PNG) + 4096)[0]) == len(PNG) + 4096


def test_the_time_is_capped_for_a_slow_or_trickling_server(http_server, allow_loopback):
    base = f"http://127.0.0.1:{http_server.server_address[1]}"
    for path in ("/slow", "/trickle"):
        started = time.monotonic()
        _refused(base + path, "timed out", timeout=0.5)
        assert time.monotonic() - started < 1.5


def test_the_size_limit_and_timeout_default_to_settings(http_server, allow_loopback, settings):
    settings.GEMPOOL_MAX_UPLOAD_BYTES = 1024
    _refused(f"http://127.0.0.1:{http_server.server_address[1]}/big", "1024 byte limit")


# ---- https: connect to the pinned address, verify the certificate against the hostname --------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gempool test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem) + leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return folder


@pytest.fixture(scope="module")
def https_server(tls_files):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "leaf.pem")
    server = _serve(context)
    yield server
    server.shutdown()
    server.server_close()


def test_https_is_pinned_and_verified_against_the_hostname(https_server, tls_files, dns, allow_loopback):
    port = https_server.server_address[1]
    dns["images.test"] = ["127.0.0.1"]
    dns["other.test"] = ["127.0.0.1"]
    ca = str(tls_files / "ca.pem")
    assert safe_fetch.fetch_image_url(f"https://images.test:{port}/img.png", ca_certs=ca) == (PNG, "image/png")
    assert dns.lookups["images.test"] == 1 and https_server.hosts[-1] == f"images.test:{port}"
    _refused(f"https://other.test:{port}/img.png", "TLS verification failed for other.test", ca_certs=ca)
    _refused(f"https://images.test:{port}/img.png", "TLS verification failed")  # not in the public CA bundle
