"""First-token delay of sequential streams as real clients see them (issue 19, point 4).

    python bench/ttft_probe.py [--client openai,close] [--upstream typical|nodelay] [--accounts 1]
                               [--fragment-delay 0.3] [--fragments 8] [--streams 24] [--blocks 4]

One client, one stream after the other, each read to its end, against a simulator that waits
`--fragment-delay` before each of `--fragments` answer fragments. Direct = the upstream calls of one
stream made by this process (gemini_enterprise.GeminiClient over requests, keep-alive, JWTs minted
beforehand: latency.DirectClient); gateway = a chat completion with `stream: true` through gempool, by:

- `openai`: the openai SDK (httpx), one client for the whole run, so its connection is kept alive, as
  applications use it;
- `close`: one fresh connection per stream with `Connection: close`, as bench/loadgen.py does.

Direct and gateway blocks alternate; added = gateway - direct at p50 / p90. `client_floor_p50_ms` is the
same client's own first-token time: against a stand-in (InstantChatServer) that answers after the same wait as
the upstream's first fragment, minus that wait. The wait matters: a client's code runs slower after sitting
idle (the openai SDK takes 1.5 ms answered back to back, 2.7 ms after waiting 50-300 ms). The direct side's
client has almost none, so `gateway_share_p50_ms` = added - floor is what the gateway itself adds.
`--upstream typical` is the
simulator with Nagle on and each HTTP chunk written as three small writes (bench/simulator.py), which is
how many servers write; `nodelay` is the simulator as the other benchmarks run it. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from bench import latency  # noqa: E402
from bench.procs import Gateway, Simulator, prepare_deployment, tree_cpu_seconds  # noqa: E402
from gemini_enterprise.types import TextDelta  # noqa: E402

QUERY = "Say hello in a few short sentences."


class OpenAIStreams:
    """Streams through the openai SDK on one long-lived client (a kept-alive connection)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=60)

    def first_token(self, query: str) -> float:
        started = time.perf_counter()
        first = None
        chunks = 0
        stream = self.client.chat.completions.create(model=latency.MODEL, stream=True,
                                                     messages=[{"role": "user", "content": query}])
        with stream:
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    chunks += 1
                    if first is None:
                        first = time.perf_counter() - started
        if first is None:
            raise RuntimeError("openai: no content")
        return first

    def close(self) -> None:
        self.client.close()


class ClosingStreams:
    """One fresh connection per stream with `Connection: close`, written in one send (as bench/loadgen.py)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        parts = urlsplit(base_url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.api_key = api_key

    def first_token(self, query: str) -> float:
        body = json.dumps({"model": latency.MODEL, "stream": True,
                           "messages": [{"role": "user", "content": query}]}).encode()
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.address[0]}:{self.address[1]}\r\n"
                f"Authorization: Bearer {self.api_key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        started = time.perf_counter()
        first = None
        seen = b""
        with socket.create_connection(self.address, timeout=60) as sock:
            sock.sendall(head + body)
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                seen += data
                if first is None and b'"content":"' in seen:
                    first = time.perf_counter() - started
        if first is None or b"data: [DONE]" not in seen:
            raise RuntimeError("close: no content or no [DONE]")
        return first

    def close(self) -> None:
        pass


class DirectStreams(latency.DirectClient):
    """The upstream's own first-token time: widgetStreamAssist on a session made beforehand (untimed), as
    a client talking to the upstream directly would see it. The gateway's spare sessions take the session
    round trip off its path too, so this is what the gateway is compared with."""

    def first_token(self, query: str) -> float:
        creds = self._pick()
        session = self.client.create_session(creds)
        started = time.perf_counter()
        first = None
        with self.client.stream_assist(creds, session=session, query=query) as stream:
            for event in stream:
                if first is None and isinstance(event, TextDelta) and event.text:
                    first = time.perf_counter() - started
        if first is None:
            raise RuntimeError("direct: no text fragment")
        return first


CLIENTS = {"openai": OpenAIStreams, "close": ClosingStreams}


class InstantChatServer:
    """A loopback stand-in for a gateway that answers every streamed chat completion after `wait` seconds (role
    and first content in one chunk, then the finish and [DONE]), keeping the connection alive unless told to
    close: what a client takes to turn that into its first token, less the wait, is its own floor, part of its
    `added` figure (the direct side's client has one of its own, far smaller: gemini_enterprise reads bytes).

    It runs in the measuring process, so its own work counts against the client: it parses no more than the
    Content-Length and answers with prepared bytes. http.server's handler (as in nagle_probe.py) added about
    0.17 ms to the plain client's floor (0.40 against 0.22-0.24 ms)."""

    def __init__(self, *, wait: float = 0.0) -> None:
        self.wait = wait
        chunk = {"id": "chatcmpl-floor", "object": "chat.completion.chunk", "created": 0, "model": latency.MODEL}
        events = [{**chunk, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}]}
                  for delta, reason in (({"role": "assistant", "content": ""}, None), ({"content": "Hi"}, None),
                                        ({}, "stop"))]
        sse = [b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n" for event in events]
        first, rest = sse[0] + sse[1], sse[2] + b"data: [DONE]\n\n"
        self.answer = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"%X\r\n%s\r\n" % (len(first), first))
        self.tail = b"%X\r\n%s\r\n0\r\n\r\n" % (len(rest), rest)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffered += data
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                lines = head.lower().split(b"\r\n")
                length = next(int(line.split(b":", 1)[1]) for line in lines if line.startswith(b"content-length:"))
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                buffered = buffered[length:]
                if self.wait:
                    time.sleep(self.wait)
                conn.sendall(self.answer)
                conn.sendall(self.tail)  # a separate write, as a gateway's later events are
                if b"connection: close" in lines:
                    return

    def close(self) -> None:
        self.listener.close()


def client_floor_ms(client_name: str, *, streams: int, wait: float) -> float:
    """p50 of the client's first-token time against InstantChatServer answering after `wait`, less the wait."""
    server = InstantChatServer(wait=wait)
    client = CLIENTS[client_name](server.url, "floor-key")
    try:
        client.first_token(QUERY)  # warm, as measure() warms the gateway side
        return round((statistics.median(client.first_token(QUERY) for _ in range(streams)) - wait) * 1000, 2)
    finally:
        client.close()
        server.close()


def measure(client_name: str, direct: DirectStreams, gateway: Gateway, api_key: str, *, streams: int,
            blocks: int, first_wait: float) -> dict:
    """`first_wait`: how long the upstream takes to its first text fragment (the client idles that long)."""
    client = CLIENTS[client_name](gateway.url, api_key)
    client.first_token(QUERY)  # warm: connection, JWT, the account's first spare session
    try:
        out = latency.compare(lambda: direct.first_token(QUERY), lambda: client.first_token(QUERY),
                              concurrency=1, calls=streams, blocks=blocks,
                              gateway_cpu=lambda: tree_cpu_seconds(gateway.pid))
    finally:
        client.close()
    floor = client_floor_ms(client_name, streams=streams, wait=first_wait)
    return {"client": client_name, "added_p50_ms": round(out["added_p50_ms"], 2),
            "added_mean_ms": round(out["added_mean_ms"], 2),
            "direct_p50_ms": round(out["direct"]["p50_ms"], 2), "gateway_p50_ms": round(out["gateway"]["p50_ms"], 2),
            "errors": out["direct"]["errors"] + out["gateway"]["errors"],
            "error_samples": out["gateway"]["error_samples"] + out["direct"]["error_samples"],
            "gateway_cpu_ms_per_stream": round(out.get("gateway_cpu_ms", float("nan")), 2),
            "client_floor_p50_ms": floor, "gateway_share_p50_ms": round(out["added_p50_ms"] - floor, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", default="openai,close", help="comma list of: openai, close")
    parser.add_argument("--upstream", choices=("typical", "nodelay"), default="typical")
    parser.add_argument("--accounts", type=int, default=1, help="accounts in the pool (default 1: every stream "
                                                                  "uses the same account, as in the report)")
    parser.add_argument("--fragment-delay", type=float, default=0.3)
    parser.add_argument("--fragments", type=int, default=8)
    parser.add_argument("--thoughts", type=int, default=0, help="thought fragments before the answer")
    parser.add_argument("--streams", type=int, default=24, help="streams per side and client")
    parser.add_argument("--blocks", type=int, default=4, help="alternating direct/gateway blocks")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default="", help="PostgreSQL database URL (default: SQLite)")
    parser.add_argument("--gunicorn-config", default="gempool_site/gunicorn.conf.py")
    args = parser.parse_args(argv)
    tmp, accounts_file, accounts, deployment, api_key = prepare_deployment(
        prefix="gempool-ttft-", accounts=args.accounts, database_url=args.database_url)
    sim = Simulator(accounts_file=accounts_file, log_path=tmp / "simulator.log", fragment_delay=args.fragment_delay,
                    fragments=args.fragments, thought_fragments=args.thoughts,
                    typical_writes=args.upstream == "typical")
    gateway = Gateway(deployment, upstream_url=sim.url, worker_class="gevent", workers=args.workers, threads=1,
                      worker_connections=2000, log_path=tmp / "gateway.log", config=args.gunicorn_config)
    results = []
    try:
        sim.start()
        gateway.start()
        direct = DirectStreams(sim.url, accounts)
        direct.first_token(QUERY)
        for name in [c.strip() for c in args.client.split(",") if c.strip()]:
            results.append(measure(name, direct, gateway, api_key, streams=args.streams, blocks=args.blocks,
                                   first_wait=args.fragment_delay * (args.thoughts + 1)))
            sys.stderr.write(json.dumps(results[-1]) + "\n")
        direct.close()
    finally:
        gateway.stop()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.write(json.dumps({"upstream": args.upstream, "accounts": args.accounts,
                                 "fragment_delay": args.fragment_delay, "fragments": args.fragments,
                                 "streams": args.streams, "load": os.getloadavg(), "results": results}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
