"""Fetching a client-supplied image URL without turning gempool into a proxy into its own network (SSRF).

Every hop (the URL and each redirect, followed by hand, at most 3) is checked after DNS resolution: only
http/https, and every address the name resolves to must be public (not loopback, private, link-local,
CGNAT, multicast, reserved, unspecified, or a cloud metadata endpoint, also when embedded in IPv6). The
connection then goes to the address that was checked (no second lookup that DNS rebinding could answer
differently), with the Host header and TLS SNI/certificate check still using the hostname. Size and time
are capped; any refusal is a BadRequestError (400) that says why, except for the host itself: "unknown" and
"internal" get one message (HostRefused), so the refusals cannot map the internal DNS; the precise reason
goes to the log. The same address policy guards proxy hosts (host_problem, used by accounts.proxies).
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from files_app import content_types
from gempool_site.exceptions import BadRequestError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_REDIRECTS = 3
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_SIZE = 64 * 1024
USER_AGENT = "gempool-image-fetch/1.0"
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata",
                            "instance-data", "instance-data.ec2.internal"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, ...
    "fd00:ec2::254",  # AWS over IPv6
    "169.254.170.2",  # AWS ECS task metadata
    "100.100.100.200",  # Alibaba Cloud
))
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# getaddrinfo() has no timeout of its own; resolving in a small pool lets the total time cap hold.
_resolver = ThreadPoolExecutor(max_workers=4, thread_name_prefix="image-url-dns")


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str  # the hostname (IDNA-encoded), for SNI and the certificate check
    port: int
    address: str  # the checked IP we connect to
    host_header: str
    path: str  # path + query, what goes on the request line


def _refuse(reason: str, param: str | None) -> BadRequestError:
    return BadRequestError(f"Image URL refused: {reason}.", param=param, code="invalid_image_url")


class HostRefused(BadRequestError):
    """The host is unknown, internal or a metadata endpoint: one message for all; `reason` is for the log."""

    def __init__(self, host: str, reason: str, param: str | None) -> None:
        super().__init__(f"Image URL refused: {host} {HOST_REFUSAL}.", param=param, code="invalid_image_url")
        self.reason = reason


HOST_REFUSAL = "is unknown or not a public address"


def address_problem(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why an address must not be fetched from (e.g. 'a private'), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                                                      if ip in NAT64 else None)
        if embedded is not None:
            return address_problem(embedded, allow_private=allow_private)
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata"
    if allow_private:
        return None
    for check, label in ((ip.is_loopback, "a loopback"), (ip.is_link_local, "a link-local"),
                         (ip.is_multicast, "a multicast"), (ip.is_unspecified, "an unspecified"),
                         (ip in CGNAT, "a shared (CGNAT)"), (ip.is_reserved, "a reserved"),
                         (ip.is_private, "a private")):
        if check:
            return label
    return None if ip.is_global else "a non-public"


def _resolve(host: str, port: int, *, deadline: float, param: str | None) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass  # a name, not a literal address
    future = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        raise HostRefused(host, "resolving timed out", param) from None
    except (OSError, UnicodeError):
        raise HostRefused(host, "could not be resolved", param) from None
    addresses = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise HostRefused(host, "could not be resolved", param)
    return addresses


def host_problem(host: str, port: int, *, allow_private: bool, timeout: float = 5.0) -> str | None:
    """Why a connection to host:port breaks the address policy (for the log), or None when it may go ahead.

    With `allow_private` a name is not looked up: only metadata names and addresses stay refused.
    """
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTS:
        return "a cloud metadata endpoint"
    try:
        literal = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        problem = address_problem(literal, allow_private=allow_private)
        return f"{problem} address" if problem else None
    if allow_private:
        return None
    try:
        addresses = _resolve(name, port, deadline=time.monotonic() + timeout, param=None)
    except HostRefused as exc:
        return exc.reason
    problems = [address_problem(ip) for ip in addresses]
    return next((f"resolves to {problem} address" for problem in problems if problem), None)


def _check(url: str, *, deadline: float, param: str | None) -> _Target:
    """Validate one hop's URL and pick the address to connect to."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse("the URL is malformed", param) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _refuse(f"only http and https URLs can be fetched, not {scheme or 'a relative URL'!r}", param)
    if parts.username is not None or parts.password is not None:
        raise _refuse("URLs with credentials are not accepted", param)
    try:
        host = (parts.hostname or "").rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise _refuse("the host name is invalid", param) from None
    if not host:
        raise _refuse("the URL has no host", param)
    if host in METADATA_HOSTS:
        raise HostRefused(host, "a cloud metadata endpoint", param)
    port = port or (443 if scheme == "https" else 80)
    allow_private = settings.GEMPOOL_URL_FETCH_ALLOW_PRIVATE
    addresses = _resolve(host, port, deadline=deadline, param=param)
    # Refuse when *any* answer is internal: a name that mixes public and private answers is a rebinding setup.
    for ip in addresses:
        problem = address_problem(ip, allow_private=allow_private)
        if problem:
            raise HostRefused(host, f"resolves to {problem} address", param)
    bracketed = f"[{host}]" if ":" in host else host
    default_port = port == (443 if scheme == "https" else 80)
    return _Target(scheme=scheme, host=host, port=port, address=str(addresses[0]),
                   host_header=bracketed if default_port else f"{bracketed}:{port}",
                   path=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""))


def _pool(target: _Target, timeout: float, ca_certs: str | None) -> urllib3.HTTPConnectionPool:
    options = {"timeout": urllib3.Timeout(total=timeout), "retries": False, "maxsize": 1}
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(target.address, target.port, **options)
    # Connect to the checked IP; SNI and the certificate check use the hostname the client gave.
    return urllib3.HTTPSConnectionPool(target.address, target.port, cert_reqs="CERT_REQUIRED",
                                       ca_certs=ca_certs or certifi.where(), server_hostname=target.host,
                                       assert_hostname=target.host, **options)


def fetch_image_url(url: str, *, param: str | None = "image_url", max_bytes: int | None = None,
                    timeout: float | None = None, ca_certs: str | None = None) -> tuple[bytes, str]:
    """Download an image from a client-supplied http(s) URL safely; returns (bytes, mime type).

    Limits: GEMPOOL_MAX_UPLOAD_BYTES and GEMPOOL_URL_FETCH_TIMEOUT (total, across redirects) unless
    given. Raises BadRequestError naming `param` for a refused or failed fetch. Does network I/O: call it
    outside transactions.
    """
    max_bytes = max_bytes or settings.GEMPOOL_MAX_UPLOAD_BYTES
    timeout = timeout or settings.GEMPOOL_URL_FETCH_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        for _hop in range(MAX_REDIRECTS + 1):
            target = _check(url, deadline=deadline, param=param)
            location = _fetch_hop(target, deadline=deadline, max_bytes=max_bytes, param=param,
                                  ca_certs=ca_certs)
            if isinstance(location, tuple):
                return location
            url = urljoin(url, location)
    except BadRequestError as exc:
        logger.info("image URL refused", extra={"host": _host_for_log(url),
                                                "reason": getattr(exc, "reason", exc.message)})
        raise
    raise _refuse(f"more than {MAX_REDIRECTS} redirects", param)


def _host_for_log(url: str) -> str:
    # Only the host: paths and queries of client URLs may carry tokens.
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return "(malformed)"


def _fetch_hop(target: _Target, *, deadline: float, max_bytes: int, param: str | None,
               ca_certs: str | None) -> tuple[bytes, str] | str:
    """One request: the image, or the Location to follow."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise _refuse("the fetch timed out", param)
    headers = {"Host": target.host_header, "User-Agent": USER_AGENT, "Accept": "image/*",
               # identity: a compressed body could inflate past the size cap after we counted it
               "Accept-Encoding": "identity"}
    pool = _pool(target, remaining, ca_certs)
    try:
        response = pool.urlopen("GET", target.path, headers=headers, redirect=False, retries=False,
                                preload_content=False, decode_content=False, assert_same_host=False)
        try:
            return _handle_response(response, deadline=deadline, max_bytes=max_bytes, param=param)
        finally:
            response.release_conn()
    except SSLError as exc:
        raise _refuse(f"TLS verification failed for {target.host} ({type(exc).__name__})", param) from None
    except Urllib3Timeout:
        raise _refuse("the fetch timed out", param) from None
    except (Urllib3Error, OSError) as exc:
        raise _refuse(f"could not fetch the URL ({type(exc).__name__})", param) from None
    finally:
        pool.close()


def _handle_response(response: urllib3.BaseHTTPResponse, *, deadline: float, max_bytes: int,
                     param: str | None) -> tuple[bytes, str] | str:
    if response.status in REDIRECT_STATUSES:
        location = response.headers.get("Location")
        if not location:
            raise _refuse(f"HTTP {response.status} redirect without a Location", param)
        return location
    if response.status != 200:
        raise _refuse(f"the server answered HTTP {response.status}", param)
    declared_length = response.headers.get("Content-Length", "")
    if declared_length.isdigit() and int(declared_length) > max_bytes:
        raise _refuse(f"the image is larger than the {max_bytes} byte limit", param)
    data = _read_capped(response, deadline=deadline, max_bytes=max_bytes, param=param)
    if not data:
        raise _refuse("the URL returned no data", param)
    return data, _image_type(response.headers.get("Content-Type"), data, param)


def _read_capped(response: urllib3.BaseHTTPResponse, *, deadline: float, max_bytes: int,
                 param: str | None) -> bytes:
    chunks, total = [], 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _refuse("the fetch timed out", param)
        _set_read_timeout(response, remaining)  # so a server trickling bytes cannot outlast the cap
        chunk = response.read1(CHUNK_SIZE)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise _refuse(f"the image is larger than the {max_bytes} byte limit", param)
        chunks.append(chunk)


def _set_read_timeout(response: urllib3.BaseHTTPResponse, seconds: float) -> None:
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        sock.settimeout(max(0.01, seconds))


def _image_type(header: str | None, data: bytes, param: str | None) -> str:
    sniffed = content_types.sniff(data[:512])
    if sniffed and sniffed.startswith("image/"):
        return sniffed  # the bytes are the truth; servers often label images application/octet-stream
    declared = content_types.normalize(header)
    if declared.startswith("image/") and declared != "image/svg+xml":
        return declared
    raise _refuse(f"the URL did not return an image (content type {declared or 'unknown'!r})", param)
