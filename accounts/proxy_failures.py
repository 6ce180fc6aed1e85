"""Why a proxy test failed, as a sentence an operator can act on, plus the technical text for the details.

requests wraps urllib3 which wraps the socket error, so the cause is found by walking the exception chain
(and, for the proxy's own HTTP answer, its status in the message: urllib3 gives no typed field for it).
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from accounts.proxies import DEFAULT_PORTS
from gempool_site.logging import redact

DETAIL_MAX_CHARS = 500
_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})")
_UNUSABLE_ADDRESS = (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL,
                     requests.exceptions.InvalidProxyURL)


@dataclass(frozen=True)
class ProxyFailure:
    message: str  # a sentence for the page and the stored "last test"
    detail: str  # the exception text, credentials masked: for the details and the log


def proxy_failure(exc: requests.RequestException, *, proxy: str, masked_proxy: str, target: str,
                  timeout: float) -> ProxyFailure:
    """The sentence for `exc` raised while fetching `target` through `proxy` (`masked_proxy`: its safe display)."""
    detail = str(exc).replace(proxy, masked_proxy) if proxy else str(exc)
    return ProxyFailure(message=_sentence(exc, where=_host_port(proxy), target=urlsplit(target).hostname or target,
                                          timeout=timeout),
                        detail=redact(detail)[:DETAIL_MAX_CHARS])


def proxy_status_failure(status_code: int, *, proxy: str) -> str | None:
    """A sentence when the proxy itself refused a plain-HTTP request (407), else None: the path works."""
    if status_code == 407:
        return _needs_credentials(_host_port(proxy))
    return None


def _sentence(exc: requests.RequestException, *, where: str, target: str, timeout: float) -> str:
    seconds = f"{timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"Timed out after {seconds} connecting to the proxy at {where}."
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return f"Timed out after {seconds}: the proxy at {where} accepted the connection but no answer came back."
    if isinstance(exc, _UNUSABLE_ADDRESS):
        return f"The proxy address {where} cannot be used: its scheme or form is not supported here."
    tunnel = _TUNNEL_STATUS.search(str(exc))
    if tunnel and tunnel.group(1) == "407":
        return _needs_credentials(where)
    if tunnel:
        return f"The proxy at {where} refused to connect to {target} (it answered HTTP {tunnel.group(1)})."
    cause = _root_cause(exc)
    if isinstance(cause, ConnectionRefusedError):
        return f"Could not connect to the proxy at {where}: connection refused."
    if isinstance(cause, socket.gaierror) or "NameResolutionError" in str(exc) or "Failed to resolve" in str(exc):
        return f"Could not find the proxy host of {where}: the name does not resolve."
    if isinstance(exc, requests.exceptions.SSLError):
        return f"The secure (TLS) connection to {target} through the proxy at {where} failed."
    if isinstance(cause, TimeoutError | socket.timeout):
        return f"Timed out after {seconds} talking to the proxy at {where}."
    if isinstance(exc, requests.exceptions.ProxyError):
        return f"The proxy at {where} closed or failed the connection."
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"The connection through the proxy at {where} failed."
    return f"The request through the proxy at {where} failed."


def _needs_credentials(where: str) -> str:
    return f"The proxy at {where} answered with HTTP 407: it needs credentials (or refused the ones given)."


def _host_port(proxy: str) -> str:
    """host:port of the proxy, never its user name or password."""
    try:
        parts = urlsplit(proxy)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return "the given address"
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        nested = current.__cause__ or current.__context__ or _wrapped(current)
        if nested is None:
            break
        current = nested
    return current


def _wrapped(exc: BaseException) -> BaseException | None:
    """urllib3 keeps the underlying error in `reason` (MaxRetryError, ProxyError) or the first argument."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        return reason
    first = exc.args[0] if exc.args else None
    return first if isinstance(first, BaseException) else None
