"""(c) load generator: N concurrent streaming chat completions over raw asyncio connections.

Run as its own process (so its CPU and sockets are not the benchmark driver's), it prints one JSON object
with per-stream outcomes: errors by kind, incomplete streams, time to headers / first content / end, and
the largest number of streams it saw open at once.

    python bench/loadgen.py --url http://127.0.0.1:8000 --key gp-... --streams 500 --ramp 2
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from urllib.parse import urlsplit

QUERY = "[[sim:fragments=50]] [[sim:delay=0.1]] Tell me a long story."


def build_request(host: str, port: int, key: str, query: str) -> bytes:
    body = json.dumps({"model": "gemini-enterprise", "stream": True,
                       "messages": [{"role": "user", "content": query}]}).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


class StreamResult:
    __slots__ = ("status", "error", "ttfb", "ttft", "total", "content_chunks", "done", "finish", "keepalives")

    def __init__(self) -> None:
        self.status = 0
        self.error = ""
        self.ttfb = self.ttft = self.total = None
        self.content_chunks = 0
        self.done = False
        self.finish = None
        self.keepalives = 0


class StreamProtocol(asyncio.Protocol):
    """One streamed completion, parsed as bytes arrive (a callback per read, no coroutine per line: the
    load generator shares the gateway's two cores, so its own cost per fragment must stay small)."""

    def __init__(self, load: Load, result: StreamResult, started: float) -> None:
        self.load, self.result, self.started = load, result, started
        self.buf = bytearray()
        self.head_done = False
        self.chunked = False
        self.chunk_left = -1  # -1: a chunk-size line comes next
        self.events = b""
        self.finished = asyncio.get_running_loop().create_future()
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.load.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            if not self.head_done and not self._head():
                return
            self._body()
        except (ValueError, IndexError) as exc:
            self._end(f"protocol:{type(exc).__name__}")

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._end(f"connection:{type(exc).__name__}")
        elif not self.head_done:
            self._end("connection:ConnectionResetError")
        else:
            self._end("")

    def _head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[:end + 4]
        self.head_done = True
        self.result.status = int(lines[0].split()[1])
        self.result.ttfb = time.perf_counter() - self.started
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:])}
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if self.result.status != 200:
            self._end(f"http_{self.result.status}")
            return False
        self.counted = True
        self.load.open_now += 1
        self.load.peak_open = max(self.load.peak_open, self.load.open_now)
        return True

    def _body(self) -> None:
        if not self.chunked:
            self._sse(bytes(self.buf))
            self.buf.clear()
            return
        while True:
            if self.chunk_left < 0:
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                self.chunk_left = int(bytes(self.buf[:end]).split(b";")[0].strip() or b"0", 16)
                del self.buf[:end + 2]
                if self.chunk_left == 0:
                    self._end("")
                    return
            if len(self.buf) < self.chunk_left + 2:
                return
            self._sse(bytes(self.buf[:self.chunk_left]))
            del self.buf[:self.chunk_left + 2]
            self.chunk_left = -1

    def _sse(self, data: bytes) -> None:
        self.events += data
        *complete, self.events = self.events.split(b"\n\n")
        for event in complete:
            self.load.event(event, self.result, self.started)

    def _end(self, error: str) -> None:
        if self.finished.done():
            return
        if error and not self.result.error:
            self.result.error = error
        if self.counted:
            self.load.open_now -= 1
        self.finished.set_result(None)


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        parts = urlsplit(args.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.request = build_request(self.host, self.port, args.key, args.query)
        self.args = args
        self.open_now = 0
        self.peak_open = 0

    async def one(self, delay: float) -> StreamResult:
        await asyncio.sleep(delay)
        result = StreamResult()
        started = time.perf_counter()
        transport = None
        try:
            async with asyncio.timeout(self.args.timeout):
                loop = asyncio.get_running_loop()
                transport, protocol = await loop.create_connection(
                    lambda: StreamProtocol(self, result, started), self.host, self.port)
                await protocol.finished
        except TimeoutError:
            result.error = result.error or "timeout"
        except (ConnectionError, OSError) as exc:
            result.error = f"connection:{type(exc).__name__}"
        finally:
            if transport is not None:
                transport.close()
        result.total = time.perf_counter() - started
        if not result.error:
            if not result.done:
                result.error = "incomplete_stream"
            elif result.finish != "stop":
                result.error = f"finish:{result.finish}"
            elif self.args.expect_chunks and result.content_chunks != self.args.expect_chunks:
                result.error = f"content_chunks:{result.content_chunks}"
        return result

    def event(self, event: bytes, result: StreamResult, started: float) -> None:
        if event.startswith(b":"):
            result.keepalives += 1
            return
        if not event.startswith(b"data: ") or result.error:
            return
        if event == b"data: [DONE]":
            result.done = True
            return
        payload = json.loads(event[6:])
        if "error" in payload:
            result.error = f"error_event:{(payload['error'] or {}).get('code')}"
            return
        for choice in payload.get("choices") or ():
            if (choice.get("delta") or {}).get("content"):
                result.content_chunks += 1
                if result.ttft is None:
                    result.ttft = time.perf_counter() - started
            if choice.get("finish_reason"):
                result.finish = choice["finish_reason"]

    async def run(self) -> dict:
        n = self.args.streams
        delays = [self.args.ramp * i / max(1, n - 1) for i in range(n)] if n > 1 else [0.0]
        started = time.perf_counter()
        results = await asyncio.gather(*(self.one(d) for d in delays))
        wall = time.perf_counter() - started
        return summarize(results, wall=wall, peak_open=self.peak_open, streams=n, ramp=self.args.ramp)


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered) + 0.5)) - 1))], 4)


def summarize(results: list[StreamResult], *, wall: float, peak_open: int, streams: int, ramp: float) -> dict:
    errors = Counter(r.error for r in results if r.error)
    ok = [r for r in results if not r.error]
    stat = {}
    for name in ("ttfb", "ttft", "total"):
        values = [getattr(r, name) for r in ok if getattr(r, name) is not None]
        stat[name] = {"p50": pct(values, 50), "p99": pct(values, 99), "max": round(max(values), 4) if values else None}
    return {"streams": streams, "ramp_s": ramp, "ok": len(ok), "failed": streams - len(ok),
            "errors": dict(errors), "peak_open_client": peak_open, "wall_s": round(wall, 3),
            "keepalives": sum(r.keepalives for r in results), **stat}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which the streams start")
    parser.add_argument("--timeout", type=float, default=90.0, help="per-stream limit, seconds")
    parser.add_argument("--query", default=QUERY)
    parser.add_argument("--expect-chunks", type=int, default=50, help="content chunks a full answer has (0: any)")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.streams + 100:
        sys.stderr.write(f"warning: RLIMIT_NOFILE hard limit {hard} < streams\n")
    sys.stdout.write(json.dumps(asyncio.run(Load(args).run())) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
