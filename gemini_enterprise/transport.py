"""The HTTP adapter for upstream calls: every response is read with TCP delayed ACKs off.

A server that writes a response in several small writes with Nagle's algorithm on (headers, then the body;
a chunk's size line, data and CRLF) sends the second write only once the first is ACKed. On a kept-alive
connection Linux delays that ACK by 40 ms or more (the connection counts as interactive once we have sent a
request on it), so every such response stalls: bench/nagle_probe.py measures 44 ms per call against 0.2 ms
with TCP_QUICKACK. Setting TCP_QUICKACK once the request is sent takes the connection out of that mode for
the response, and since we send nothing while reading it, it stays out until the next request (one
setsockopt per call). Linux only; elsewhere this adapter is requests' own.
"""
from __future__ import annotations

import functools
import socket
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager

QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def quick_ack(sock: socket.socket | None) -> None:
    """ACK what arrives at once (until the next send on this socket); a socket gone bad is getresponse's to report."""
    if QUICKACK is None or sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
    except OSError:
        pass


class _QuickAckOnResponse:
    """Mixed into a urllib3 connection class: TCP_QUICKACK between sending a request and reading its answer."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        quick_ack(self.sock)
        return super().getresponse(*args, **kwargs)


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

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _use_quick_ack(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        return _use_quick_ack(super().proxy_manager_for(proxy, **proxy_kwargs))
