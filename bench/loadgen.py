"""(c) load generator: N concurrent streaming chat completions over raw asyncio sockets.

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
        counted = False
        writer = None
        try:
            async with asyncio.timeout(self.args.timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                writer.write(self.request)
                await writer.drain()
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed before the status line")
                result.status = int(status_line.split()[1])
                headers = await self._headers(reader)
                result.ttfb = time.perf_counter() - started
                if result.status != 200:
                    body = await reader.read(2000)
                    result.error = f"http_{result.status}"
                    result.total = time.perf_counter() - started
                    _ = body
                    return result
                self.open_now += 1
                counted = True
                self.peak_open = max(self.peak_open, self.open_now)
                await self._body(reader, headers, result, started)
        except TimeoutError:
            result.error = "timeout"
        except (ConnectionError, OSError) as exc:
            result.error = f"connection:{type(exc).__name__}"
        except asyncio.IncompleteReadError:
            result.error = "incomplete_read"
        except (ValueError, IndexError) as exc:
            result.error = f"protocol:{type(exc).__name__}"
        finally:
            if counted:
                self.open_now -= 1
            if writer is not None:
                writer.close()
        result.total = time.perf_counter() - started
        if not result.error:
            if not result.done:
                result.error = "incomplete_stream"
            elif result.finish != "stop":
                result.error = f"finish:{result.finish}"
            elif self.args.expect_chunks and result.content_chunks != self.args.expect_chunks:
                result.error = f"content_chunks:{result.content_chunks}"
        return result

    async def _headers(self, reader: asyncio.StreamReader) -> dict[str, str]:
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str], result: StreamResult,
                    started: float) -> None:
        buf = b""
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        while not result.done and not result.error:
            if chunked:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                data = await reader.readexactly(size)
                await reader.readexactly(2)
            else:
                data = await reader.read(65536)
                if not data:
                    break
            buf += data
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                self._event(event, result, started)

    def _event(self, event: bytes, result: StreamResult, started: float) -> None:
        if event.startswith(b":"):
            result.keepalives += 1
            return
        if not event.startswith(b"data: "):
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
