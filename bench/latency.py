"""(a) added latency per non-stream completion and (b) time to first content token, gateway vs direct.

Direct = what gempool itself does upstream for one completion, done by this process with the same library
(gemini_enterprise.GeminiClient, JWTs minted once beforehand): widgetCreateSession + widgetStreamAssist read
to the end (a) or to the first answer fragment (b). Gateway = the whole round trip through gempool, with
the same HTTP library (requests, keep-alive) on the client side. Both run in alternating blocks so a noisy
neighbour on the machine hits both sides alike; the difference of the two is gempool's overhead.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from gemini_enterprise.client import GeminiClient
from gemini_enterprise.types import ClientConfig, Credentials, TextDelta

MODEL = "gemini-enterprise"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@dataclass
class Series:
    """Durations (seconds) of one side of a measurement, and its failures."""

    times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def summary(self) -> dict:
        ms = [t * 1000 for t in self.times]
        return {"n": len(ms), "errors": len(self.errors), "p50_ms": percentile(ms, 50),
                "p99_ms": percentile(ms, 99), "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
                "rps": len(ms) / self.wall if self.wall else float("nan"), "error_samples": self.errors[:3]}


class DirectClient:
    """The upstream calls of one completion, made straight to the simulator with pre-minted JWTs."""

    def __init__(self, upstream_url: str, accounts: list[dict], *, pool_size: int = 128) -> None:
        self.client = GeminiClient(ClientConfig(auth_url=upstream_url, api_url=upstream_url, read_timeout=60,
                                                connect_timeout=5, pool_maxsize=pool_size))
        self.creds = [Credentials(key=f"direct-{a['csesidx']}", team_id=a["team_id"], csesidx=a["csesidx"],
                                  secure_c_ses=a["secure_c_ses"], host_c_oses=a["host_c_oses"])
                      for a in accounts]
        self._next = itertools.count()
        self._lock = threading.Lock()
        for creds in self.creds:
            self.client.fetch_jwt(creds)  # minted now, cached for the whole run (refresh after 240 s)

    def _pick(self) -> Credentials:
        with self._lock:
            return self.creds[next(self._next) % len(self.creds)]

    def complete(self, query: str) -> float:
        creds = self._pick()
        started = time.perf_counter()
        session = self.client.create_session(creds)
        text = []
        with self.client.stream_assist(creds, session=session, query=query) as stream:
            for event in stream:
                if isinstance(event, TextDelta):
                    text.append(event.text)
        elapsed = time.perf_counter() - started
        if not text:
            raise RuntimeError("direct: empty answer")
        return elapsed

    def first_token(self, query: str) -> float:
        creds = self._pick()
        started = time.perf_counter()
        first = None
        session = self.client.create_session(creds)
        with self.client.stream_assist(creds, session=session, query=query) as stream:
            for event in stream:
                if first is None and isinstance(event, TextDelta) and event.text:
                    first = time.perf_counter() - started
        if first is None:
            raise RuntimeError("direct: no text fragment")
        return first

    def close(self) -> None:
        self.client.close()


class GatewayClient:
    """OpenAI-style calls to gempool over keep-alive requests sessions (one per client thread)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.url = base_url + "/v1/chat/completions"
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False
            self._sessions.append(session)
        return session

    def _body(self, query: str, stream: bool) -> bytes:
        return json.dumps({"model": MODEL, "stream": stream,
                           "messages": [{"role": "user", "content": query}]}).encode()

    def complete(self, query: str) -> float:
        body = self._body(query, False)
        started = time.perf_counter()
        resp = self._session().post(self.url, data=body, headers=self.headers, timeout=60)
        payload = resp.json()
        elapsed = time.perf_counter() - started
        if resp.status_code != 200 or not payload["choices"][0]["message"]["content"]:
            raise RuntimeError(f"gateway: HTTP {resp.status_code} {str(payload)[:200]}")
        return elapsed

    def first_token(self, query: str) -> float:
        body = self._body(query, True)
        started = time.perf_counter()
        first = None
        done = False
        with self._session().post(self.url, data=body, headers=self.headers, timeout=60, stream=True) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"gateway: HTTP {resp.status_code} {resp.text[:200]}")
            buf = b""
            while not done:
                chunk = resp.raw.read1(65536)
                if not chunk:
                    break
                buf += chunk
                while b"\n\n" in buf:
                    event, buf = buf.split(b"\n\n", 1)
                    if event == b"data: [DONE]":
                        done = True
                    elif first is None and event.startswith(b"data: "):
                        choices = json.loads(event[6:]).get("choices") or [{}]
                        if (choices[0].get("delta") or {}).get("content"):
                            first = time.perf_counter() - started
        if first is None or not done:
            raise RuntimeError("gateway: stream without content or without [DONE]")
        return first

    def close(self) -> None:
        for session in self._sessions:
            session.close()


def closed_loop(fn: Callable[[], float], *, concurrency: int, calls: int) -> Series:
    """`concurrency` threads each calling fn() back to back until `calls` calls are done in total."""
    series = Series()
    remaining = itertools.count()
    lock = threading.Lock()

    def worker() -> None:
        while next(remaining) < calls:
            try:
                elapsed = fn()
            except Exception as exc:  # noqa: BLE001 - a failed call is a data point, not a crash
                with lock:
                    series.errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            with lock:
                series.times.append(elapsed)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(concurrency)]:
            future.result()
    series.wall = time.perf_counter() - started
    return series


def compare(direct_fn: Callable[[], float], gateway_fn: Callable[[], float], *, concurrency: int, calls: int,
            blocks: int = 6, gateway_cpu: Callable[[], float] | None = None,
            upstream_cpu: Callable[[], float] | None = None) -> dict:
    """Alternate direct and gateway blocks; returns both summaries and the added p50/p99 (ms).

    `gateway_cpu` / `upstream_cpu` return cumulative CPU seconds of the gateway / simulator process trees:
    the gateway's CPU per completion is the overhead's cost without the noise of a busy machine."""
    direct, gateway = Series(), Series()
    per_block = max(concurrency, calls // blocks)
    cpu = {"gateway": 0.0, "upstream_direct": 0.0, "upstream_gateway": 0.0}
    for _ in range(blocks):
        for side, fn in ((direct, direct_fn), (gateway, gateway_fn)):
            g0, u0 = (gateway_cpu() if gateway_cpu else 0.0), (upstream_cpu() if upstream_cpu else 0.0)
            block = closed_loop(fn, concurrency=concurrency, calls=per_block)
            g1, u1 = (gateway_cpu() if gateway_cpu else 0.0), (upstream_cpu() if upstream_cpu else 0.0)
            if side is gateway:
                cpu["gateway"] += g1 - g0
                cpu["upstream_gateway"] += u1 - u0
            else:
                cpu["upstream_direct"] += u1 - u0
            side.times += block.times
            side.errors += block.errors
            side.wall += block.wall
    d, g = direct.summary(), gateway.summary()
    out = {"concurrency": concurrency, "direct": d, "gateway": g,
           "added_p50_ms": g["p50_ms"] - d["p50_ms"], "added_p99_ms": g["p99_ms"] - d["p99_ms"],
           "added_mean_ms": g["mean_ms"] - d["mean_ms"]}
    if gateway_cpu and g["n"]:
        out["gateway_cpu_ms"] = cpu["gateway"] * 1000 / g["n"]
    if upstream_cpu and g["n"] and d["n"]:
        out["upstream_cpu_ms"] = {"direct": cpu["upstream_direct"] * 1000 / d["n"],
                                  "gateway": cpu["upstream_gateway"] * 1000 / g["n"]}
    return out
