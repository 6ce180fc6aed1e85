"""Loopback experiment: a server with Nagle's algorithm on that writes headers and body separately, and a
keep-alive client with or without TCP_QUICKACK set while it waits for each response (issue 19, point 4).

    python bench/nagle_probe.py [--requests 200] [--stream-pieces 0]

Prints one JSON object: the response time p50/p90/max in ms for each client variant, measured in
alternating blocks. `--stream-pieces N` answers with a chunked body of N small fragments, each written as
size line, data and CRLF (three writes), 20 ms apart, and measures the time to the last fragment instead.
"""
from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.latency import percentile  # noqa: E402


class NagleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    pieces = 0
    gap = 0.02

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass

    def do_POST(self):  # noqa: N802 - stdlib naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.pieces:
            body = b'{"session": {"name": "collections/default_collection/engines/x/sessions/123"}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()  # one write ...
            self.wfile.write(body)  # ... and the body another: held by Nagle until the headers are ACKed
            return
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(self.pieces):
            time.sleep(self.gap)
            data = b'{"fragment": %d, "text": "some words of the answer"}' % i
            self.wfile.write(b"%x\r\n" % len(data))
            self.wfile.write(data)
            self.wfile.write(b"\r\n")
        self.wfile.write(b"0\r\n\r\n")


class QuickAckConnection(http.client.HTTPConnection):
    """Sets TCP_QUICKACK once the request is sent: the response's small segments are ACKed as they are read."""

    def getresponse(self):
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return super().getresponse()


def one_block(conn: http.client.HTTPConnection, count: int, times: list[float]) -> None:
    for _ in range(count):
        started = time.perf_counter()
        conn.request("POST", "/x", body=b'{"q": 1}', headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        times.append((time.perf_counter() - started) * 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--stream-pieces", type=int, default=0)
    args = parser.parse_args(argv)
    NagleHandler.pieces = args.stream_pieces
    server = ThreadingHTTPServer(("127.0.0.1", 0), NagleHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    variants = {"plain": http.client.HTTPConnection, "quickack": QuickAckConnection}
    conns = {name: cls("127.0.0.1", port, timeout=10) for name, cls in variants.items()}
    for conn in conns.values():
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3 does
    times: dict[str, list[float]] = {name: [] for name in variants}
    per_block = max(1, args.requests // args.blocks)
    for _ in range(args.blocks):
        for name, conn in conns.items():
            one_block(conn, per_block, times[name])
    server.shutdown()
    out = {name: {"n": len(t), "p50_ms": round(percentile(t, 50), 2), "p90_ms": round(percentile(t, 90), 2),
                  "max_ms": round(max(t), 2)} for name, t in times.items()}
    sys.stdout.write(json.dumps({"stream_pieces": args.stream_pieces, **out}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
