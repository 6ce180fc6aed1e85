"""requests' HTTP adapter for upstream calls through a proxy (and for every call when ClientConfig.upstream_client
is "requests"; direct calls otherwise go over gemini_enterprise/http11.py, which shares `quick_ack`): every
response is read with TCP delayed ACKs off.

A server that writes a response in several small writes with Nagle's algorithm on (headers, then the body;
a chunk's size line, data and CRLF) sends the second write only once the first is ACKed. On a kept-alive
connection Linux delays that ACK by 40 ms or more (the connection counts as interactive once we have sent a
request on it), so every such response stalls: bench/nagle_probe.py measures 44 ms per call against 0.2 ms
with TCP_QUICKACK. Setting TCP_QUICKACK once the request is sent takes the connection out of that mode for
the response, and since we send nothing while reading it, it stays out until the next request (one
setsockopt per call). Linux only; elsewhere this adapter is requests' own.

It also sends a request again when the kept-alive connection it went out on turns out to have been closed by
the server (a FIN or RST still in flight when the pool handed the connection out). Without that, a healthy
account is put to rest for the server's idle close; see `StaleConnection`.
"""
from __future__ import annotations

import functools
import http.client
import logging
import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

logger = logging.getLogger(__name__)

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def quick_ack(sock: socket.socket | None) -> None:
    """ACK what arrives at once (until the next send on this socket); a socket gone bad is getresponse's to report."""
    if QUICKACK is None or sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
    except OSError:
        pass


class StaleConnection(http.client.RemoteDisconnected):
    """The server closed a kept-alive connection before answering the next request on it.

    Servers close idle connections whenever they like; the pool's check at checkout misses a close still in
    flight. The request may go again on another connection: the pool would replay it on another account
    anyway, so replaying it on the same one is no less safe. urllib3 wraps this like any RemoteDisconnected.
    """


class _QuickAckOnResponse:
    """Mixed into a urllib3 connection class: TCP_QUICKACK between sending a request and reading its answer,
    and the count of answers read since the connection was opened (above 0: it is a kept-alive one)."""

    answers_read = 0

    def connect(self) -> None:
        self.answers_read = 0
        super().connect()

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        quick_ack(self.sock)
        try:
            response = super().getresponse(*args, **kwargs)
        except ConnectionResetError as exc:  # RemoteDisconnected included: closed before the status line
            if self.answers_read:
                raise StaleConnection(f"kept-alive connection closed by the server: {exc}") from exc
            raise
        self.answers_read += 1
        return response


@functools.cache
def _quick_ack_pool(pool_class: type) -> type:
    connection_class = type(f"QuickAck{pool_class.ConnectionCls.__name__}",
                            (_QuickAckOnResponse, pool_class.ConnectionCls), {})
    return type(f"QuickAck{pool_class.__name__}", (pool_class,), {"ConnectionCls": connection_class})


def _use_quick_ack(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {scheme: _quick_ack_pool(pool_class)
                                      for scheme, pool_class in manager.pool_classes_by_scheme.items()}
    return manager


class QuickAckAdapter(HTTPAdapter):
    """requests' HTTPAdapter whose connections (direct, through an HTTP or a SOCKS proxy) read each response
    with delayed ACKs off."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        # Each try takes another pooled connection or opens one, so pool size + 1 tries always reach a fresh one.
        tries = self._pool_maxsize + 1 if _replayable(request) else 1
        for tried in range(1, tries + 1):
            try:
                return super().send(request, *args, **kwargs)
            except requests.ConnectionError as exc:
                if tried == tries or not _caused_by(exc, StaleConnection):
                    raise
                logger.info("upstream closed a kept-alive connection; sending again",
                            extra={"method": request.method, "tried": tried})
        raise AssertionError("unreachable: the last try returns or raises")

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_quick_ack(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        return _use_quick_ack(super().proxy_manager_for(proxy, **proxy_kwargs))


def _replayable(request: requests.PreparedRequest) -> bool:
    """A body held in memory can be sent again; a stream or file was used up by the first send."""
    return request.body is None or isinstance(request.body, bytes | str)


def _caused_by(exc: BaseException, kind: type[BaseException], depth: int = 6) -> bool:
    """Whether `kind` is in the chain requests and urllib3 wrap around a socket error (args, cause, context)."""
    if isinstance(exc, kind):
        return True
    if depth == 0:
        return False
    inner = [arg for arg in exc.args if isinstance(arg, BaseException)] + [exc.__cause__, exc.__context__]
    return any(_caused_by(e, kind, depth - 1) for e in inner if e is not None)
