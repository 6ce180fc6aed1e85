"""Where the gateway's CPU goes: cProfile in each gunicorn worker, grouped into a table per request.

    python bench/cpu_profile.py [--completions 300] [--streams 100] [--workers 1] [--database-url postgres://…]

Two runs, each on a fresh gateway (bench/gunicorn_profile.py: the project's config plus cProfile on CPU
time in every worker): `--completions` non-streamed completions at concurrency 4, then `--streams`
concurrent ~5-second streams of 50 fragments (bench/loadgen.py). The self time of every profiled function
is summed into a group by where the function lives (Django and DRF, database, upstream HTTP client, JSON,
logging, SSE encoding, gevent and sockets, ...) and divided by the requests served. Profiling slows Python
code down (every call is timed), so the groups' *shares* are the result, to be applied to the CPU per
request that bench/run.py measures without the profiler. Builtins (len, isinstance, str methods) are
charged to the group of their caller. Prints markdown; `--json` the raw rows.
"""
from __future__ import annotations

import argparse
import json
import pstats
import shutil
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
    PYTHON,
    Deployment,
    Gateway,
    Simulator,
    prepare_deployment,
    raise_nofile_limit,
    tree_cpu_seconds,
)
from bench.run import SHORT_QUERY, STREAM_QUERY  # noqa: E402

# (group, substrings of a function's file or of a builtin's name): the first group that matches wins.
GROUPS: list[tuple[str, tuple[str, ...]]] = [
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
    ("imports and class creation (once per worker)", ("importlib", "marshal", "builtins.compile", "/attr/",
                                                      "dataclasses.py")),
    ("threads (spare-session creation)", ("threading.py",)),
    ("gempool (auth, plan, lease, run, bookkeeping)",
     ("/accounts/", "/openai_api/", "/completions/", "/models_catalog/", "/files_app/", "/gempool_site/",
      "/console/")),
    ("gunicorn (HTTP parsing, response writing)", ("/gunicorn/",)),
    ("gevent, greenlets, sockets (incl. syscalls)", ("gevent", "greenlet", "socket", "ssl", "select", "_io")),
    ("crypto and hashing", ("cryptography", "hashlib", "hmac", "secrets", "_hashlib")),
]
OTHER = "other (stdlib, builtins)"


def group_of(filename: str, name: str) -> str:
    where = filename if filename not in ("~", "") else name
    for group, needles in GROUPS:
        if any(needle in where for needle in needles):
            return group
    return OTHER


def grouped_seconds(prof_dir: Path) -> tuple[dict[str, float], list[tuple[float, str]]]:
    """Self CPU seconds per group over every worker's profile, and the 15 costliest functions."""
    files = sorted(prof_dir.glob("worker-*.prof"))
    if not files:
        raise RuntimeError(f"no worker profile in {prof_dir}")
    stats = pstats.Stats(*[str(f) for f in files])
    groups: dict[str, float] = defaultdict(float)
    functions = []
    for (filename, line, name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        functions.append((tottime, f"{Path(filename).name}:{line} {name}" if filename != "~" else name))
        own = group_of(filename, name)
        if own != OTHER or filename != "~" or not callers:
            groups[own] += tottime
            continue
        # A builtin (len, isinstance, str methods...) is charged to whoever called it.
        for (caller_file, _line, caller_name), caller_stats in callers.items():
            groups[group_of(caller_file, caller_name)] += caller_stats[2]
    return dict(groups), sorted(functions, reverse=True)[:15]


def profiled_run(kind: str, args, deployment: Deployment, accounts_file: Path, api_key: str, tmp: Path) -> dict:
    prof_dir = tmp / f"prof-{kind}"
    prof_dir.mkdir()
    sim = Simulator(accounts_file=accounts_file, log_path=tmp / f"sim-{kind}.log", fragment_delay=0.0,
                    fragments=8, thought_fragments=2)
    gateway = Gateway(deployment, upstream_url=sim.url, worker_class="gevent", workers=args.workers, threads=1,
                      worker_connections=2000, log_path=tmp / f"gateway-{kind}.log",
                      config="bench/gunicorn_profile.py", extra_env={"GEMPOOL_BENCH_PROFILE_DIR": str(prof_dir)})
    try:
        sim.start()
        gateway.start()
        client = latency.GatewayClient(gateway.url, api_key)
        for _ in range(2 * args.accounts):  # every account has its JWT and a spare session
            client.complete(SHORT_QUERY)
        cpu0 = tree_cpu_seconds(gateway.pid)
        if kind == "completion":
            count = args.completions
            series = latency.closed_loop(lambda: client.complete(SHORT_QUERY), concurrency=4, calls=count)
            served = len(series.times)
        else:
            count = args.streams
            argv = [PYTHON, str(ROOT / "bench" / "loadgen.py"), "--url", gateway.url, "--key", api_key,
                    "--streams", str(count), "--ramp", "1", "--query", STREAM_QUERY, "--expect-chunks", "50"]
            out = json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, cwd=ROOT,
                                            timeout=300).stdout.strip().splitlines()[-1])
            served = out["ok"]
        proc_cpu = tree_cpu_seconds(gateway.pid) - cpu0
        client.close()
    finally:
        gateway.stop()
        sim.stop()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(list(prof_dir.glob("worker-*.prof"))) < args.workers:
        time.sleep(0.1)
    groups, top = grouped_seconds(prof_dir)
    if args.keep_profiles:
        keep = Path(args.keep_profiles)
        keep.mkdir(parents=True, exist_ok=True)
        pstats.Stats(*[str(f) for f in sorted(prof_dir.glob("worker-*.prof"))]).dump_stats(str(keep / f"{kind}.prof"))
    warm = 2 * args.accounts + 1  # requests before the measured ones: in the profile, not in the /proc figure
    per = served + warm
    return {"kind": kind, "served": served, "proc_cpu_ms": proc_cpu * 1000 / max(1, served),
            "profiled_ms": sum(groups.values()) * 1000 / per,
            "groups_ms": {g: s * 1000 / per for g, s in sorted(groups.items(), key=lambda kv: -kv[1])},
            "top": [(round(t * 1000 / per, 3), f) for t, f in top]}


def markdown(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        what = "non-streamed completion" if row["kind"] == "completion" else "~5-second stream of 50 fragments"
        lines += [f"**Per {what}** ({row['served']} served; CPU per request from /proc, profiler on: "
                  f"{row['proc_cpu_ms']:.2f} ms; of it profiled: {row['profiled_ms']:.2f} ms)", "",
                  "| where | ms per request (profiled) | share |", "|---|---|---|"]
        total = row["profiled_ms"] or 1
        lines += [f"| {group} | {ms:.3f} | {100 * ms / total:.0f} % |" for group, ms in row["groups_ms"].items()]
        lines += ["", "Costliest functions (self time, ms per request): "
                  + "; ".join(f"{name} {ms}" for ms, name in row["top"][:10]), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=300)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--accounts", type=int, default=4)
    parser.add_argument("--database-url", default="", help="PostgreSQL database URL (default: a fresh SQLite)")
    parser.add_argument("--skip", default="", help="completion and/or stream")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-profiles", default="", metavar="DIR",
                        help="also write the merged profile of each run as DIR/<kind>.prof (for pstats/snakeviz)")
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
