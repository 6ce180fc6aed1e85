"""Where the gateway's CPU goes: the workers sampled with py-spy, grouped into a table per request.

    python bench/cpu_profile.py [--completions 1500] [--streams 200] [--workers 1] [--database-url postgres://…]

Two runs, each on a fresh gateway with the project's own gunicorn config: `--completions` non-streamed
completions at concurrency 4, then `--streams` concurrent ~5-second streams of 50 fragments
(bench/loadgen.py). py-spy samples every worker's Python stack 500 times a second from outside the process
(idle stacks, a greenlet waiting in the event loop, are not counted) while the load runs. Each sample is
charged to the group of its innermost Python function, by where that function lives (Django and DRF,
database, upstream HTTP client, JSON, logging, SSE encoding, gevent and sockets, ...): time in C (SQLite, a
system call, a builtin) counts for the Python function that called it. A group's share of the samples times
the CPU per request read from /proc is its ms per request. Sampling does not slow the code down, and follows
greenlets, which cProfile (one stack per thread) charges to whatever frame was current at a switch.
Prints markdown; `--json` the raw rows; `--keep-profiles DIR` writes the samples (py-spy's "raw" format:
one stack per line, for flame graphs).
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import latency  # noqa: E402
from bench.procs import (  # noqa: E402
    Deployment,
    Gateway,
    Simulator,
    loadgen_argv,
    prepare_deployment,
    raise_nofile_limit,
    tree_cpu_seconds,
)
from bench.run import SHORT_QUERY, STREAM_QUERY  # noqa: E402

# (group, substrings of a function's file): the first group that matches wins.
GROUPS: list[tuple[str, tuple[str, ...]]] = [
    # gempool's own thin layers over gevent's sockets: their time is the socket calls they make
    ("gevent, greenlets, sockets (incl. syscalls)", ("gempool_site/gevent_worker.py", "gemini_enterprise/silence.py")),
    ("database (Django ORM + driver)", ("/django/db/", "sqlite3", "SQLite", "psycopg", "gempool_site/db",
                                        "rawsql")),
    ("SSE encoding", ("openai_api/sse.py", "openai_api/responses.py")),
    ("logging", ("/logging/", "gempool_site/logging")),
    ("JSON", ("/json/", "_json", "orjson")),
    ("upstream answer parsing (gemini_enterprise stream.py, body.py, assist.py)",
     ("gemini_enterprise/stream.py", "gemini_enterprise/body.py", "gemini_enterprise/assist.py")),
    ("upstream HTTP client (requests, urllib3, http.client, rest of gemini_enterprise)",
     ("/requests/", "/urllib3/", "http/client.py", "/email/", "cookiejar", "gemini_enterprise/", "/idna/",
      "/charset_normalizer/", "urllib/parse")),
    ("Django + DRF (request, middleware, views, serializers)",
     ("/django/", "/rest_framework/", "/whitenoise/", "/corsheaders/", "/drf_spectacular/", "/asgiref/")),
    ("imports and class creation (once per worker)", ("importlib", "/attr/", "dataclasses.py")),
    ("threads (spare-session creation)", ("threading.py",)),
    ("gempool (auth, plan, lease, run, bookkeeping)",
     ("/accounts/", "/openai_api/", "/anthropic_api/", "/completions/", "/models_catalog/", "/files_app/",
      "/gempool_site/", "/metering/", "/console/")),
    ("gunicorn (HTTP parsing, response writing)", ("/gunicorn/",)),
    ("gevent, greenlets, sockets (incl. syscalls)", ("gevent", "greenlet", "socket", "ssl", "select", "_io")),
    ("crypto and hashing", ("cryptography", "hashlib", "hmac", "secrets", "_hashlib")),
]
OTHER = "other (stdlib, builtins)"


def group_of(filename: str) -> str:
    for group, needles in GROUPS:
        if any(needle in filename for needle in needles):
            return group
    return OTHER


SPY = Path(sys.executable).with_name("py-spy")
SAMPLE_RATE = 500  # per second and worker


def grouped_samples(samples: Path) -> tuple[dict[str, int], list[tuple[int, str]], int]:
    """Samples per group and per innermost function (the 15 busiest), and the total, from py-spy's raw output:
    `frame;frame;...;frame count` per line, each frame `function (file:line)`, outermost first."""
    groups: dict[str, int] = defaultdict(int)
    functions: dict[str, int] = defaultdict(int)
    total = 0
    for line in samples.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        leaf = stack.rsplit(";", 1)[-1]
        name, _, where = leaf.partition(" (")
        filename = "/" + where.rsplit(":", 1)[0]  # py-spy names files relative to their sys.path entry
        if leaf.startswith("process "):  # a process's own frame: no Python code was on the stack
            continue
        groups[group_of(filename)] += int(count)
        functions[f"{Path(filename).name}:{name}"] += int(count)
        total += int(count)
    return dict(groups), sorted(((n, f) for f, n in functions.items()), reverse=True)[:15], total


def profiled_run(kind: str, args, deployment: Deployment, accounts_file: Path, api_key: str, tmp: Path) -> dict:
    samples = tmp / f"samples-{kind}.txt"
    sim = Simulator(accounts_file=accounts_file, log_path=tmp / f"sim-{kind}.log", fragment_delay=0.0,
                    fragments=8, thought_fragments=2)
    gateway = Gateway(deployment, upstream_url=sim.url, worker_class="gevent", workers=args.workers, threads=1,
                      worker_connections=2000, log_path=tmp / f"gateway-{kind}.log")
    try:
        sim.start()
        gateway.start()
        client = latency.GatewayClient(gateway.url, api_key)
        for _ in range(2 * args.accounts):  # every account has its JWT and a spare session
            client.complete(SHORT_QUERY)
        spy = subprocess.Popen([str(SPY), "record", "--pid", str(gateway.pid), "--subprocesses", "--nonblocking",
                                "--rate", str(SAMPLE_RATE), "--format", "raw", "--output", str(samples)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # py-spy attaches to the master and each worker
        cpu0 = tree_cpu_seconds(gateway.pid)
        if kind == "completion":
            series = latency.closed_loop(lambda: client.complete(SHORT_QUERY), concurrency=4,
                                         calls=args.completions)
            served = len(series.times)
        else:
            argv = loadgen_argv(gateway.url, api_key, args.streams, STREAM_QUERY, ramp=1, expect_chunks=50)
            out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT,
                                            timeout=300).stdout.strip().splitlines()[-1])
            served = out["ok"]
        proc_cpu = tree_cpu_seconds(gateway.pid) - cpu0
        spy.send_signal(signal.SIGINT)  # py-spy writes its samples and exits
        _, spy_err = spy.communicate(timeout=60)
        client.close()
    finally:
        gateway.stop()
        sim.stop()
    if not samples.exists():
        raise RuntimeError(f"py-spy wrote no samples: {spy_err.decode(errors='replace')[-500:]}")
    if args.keep_profiles:
        keep = Path(args.keep_profiles)
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(samples, keep / f"{kind}.txt")
    groups, top, total = grouped_samples(samples)
    per_request = proc_cpu * 1000 / max(1, served)
    scale = per_request / max(1, total)  # ms per request that one sample stands for
    return {"kind": kind, "served": served, "proc_cpu_ms": per_request, "samples": total,
            "groups_ms": {g: n * scale for g, n in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top": [(round(n * scale, 3), f) for n, f in top]}


def markdown(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        what = "non-streamed completion" if row["kind"] == "completion" else "~5-second stream of 50 fragments"
        lines += [f"**Per {what}** ({row['served']} served; CPU per request from /proc: {row['proc_cpu_ms']:.2f} ms; "
                  f"{row['samples']} samples)", "", "| where | ms per request | share |", "|---|---|---|"]
        total = row["proc_cpu_ms"] or 1
        lines += [f"| {group} | {ms:.3f} | {100 * ms / total:.0f} % |" for group, ms in row["groups_ms"].items()]
        lines += ["", "Busiest functions (innermost Python frame, ms per request): "
                  + "; ".join(f"{name} {ms}" for ms, name in row["top"][:10]), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=1500)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--database-url", default="", help="PostgreSQL database URL (default: a fresh SQLite)")
    parser.add_argument("--skip", default="", help="completion and/or stream")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-profiles", default="", metavar="DIR",
                        help="also write each run's samples as DIR/<kind>.txt (py-spy raw: stacks and counts)")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    tmp, accounts_file, _, deployment, api_key = prepare_deployment(
        prefix="gempool-profile-", accounts=args.accounts, database_url=args.database_url)
    try:
        rows = [profiled_run(kind, args, deployment, accounts_file, api_key, tmp)
                for kind in ("completion", "stream") if kind not in args.skip]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.write((json.dumps(rows, indent=1) if args.json else markdown(rows)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
