"""Throughput, added latency, 1,000 streams at once and memory, gateway against the upstream direct.

    python bench/side_by_side.py [--concurrency 1,20,64] [--streams 1000] [--bursts N] [--workers N] [--database-url …]

(1) Non-streamed completions at each concurrency, gateway and direct (bench/latency.py: the upstream calls
gempool makes, done by this process) in alternating blocks: requests/s, p50 and the added p50/p99, and the
gateway's CPU per completion from /proc. (2) `--streams` ~5-second streams (50 fragments 0.1 s apart)
all started at once (bench/loadgen.py, no ramp), `--bursts` times: time to first content token p50/p99; the added delay,
p99 minus two direct baselines: the first-token time of the same query on an idle upstream, and the p99 of
as many streams started at once straight to the upstream (bench/direct_burst.py, the upstream calls gempool
makes, each stream read to its end); and the CPU per stream of the gateway, the simulator and the load
generator (which share the machine's cores). (3) Memory: each worker's
RSS once warm and idle, and the gateway tree's peak RSS growth per open stream. Prints markdown, or one
JSON object with --json. Default workers: the gateway's own default (one per usable CPU).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import latency  # noqa: E402
from bench.procs import (  # noqa: E402
    PYTHON,
    Gateway,
    MemorySampler,
    Simulator,
    loadgen_argv,
    prepare_deployment,
    process_tree,
    raise_nofile_limit,
    rss_and_threads,
    tree_cpu_seconds,
)
from bench.run import SHORT_QUERY, STREAM_QUERY, warm_up  # noqa: E402
from gempool_site.cpus import available_cpus  # noqa: E402


def completions(args, sim: Simulator, gateway: Gateway, api_key: str, accounts: list[dict]) -> list[dict]:
    direct = latency.DirectClient(sim.url, accounts)
    client = latency.GatewayClient(gateway.url, api_key)
    rows = []
    try:
        for concurrency in args.concurrency:
            calls = max(args.calls, 12 * concurrency)
            out = latency.compare(lambda: direct.complete(SHORT_QUERY), lambda: client.complete(SHORT_QUERY),
                                  concurrency=concurrency, calls=calls, blocks=4,
                                  gateway_cpu=lambda: tree_cpu_seconds(gateway.pid))
            rows.append({"concurrency": concurrency, "direct_rps": out["direct"]["rps"],
                         "gateway_rps": out["gateway"]["rps"], "direct_p50_ms": out["direct"]["p50_ms"],
                         "gateway_p50_ms": out["gateway"]["p50_ms"], "added_p50_ms": out["added_p50_ms"],
                         "added_p99_ms": out["added_p99_ms"], "gateway_cpu_ms": out.get("gateway_cpu_ms"),
                         "errors": out["gateway"]["errors"] + out["direct"]["errors"]})
            sys.stderr.write(json.dumps(rows[-1]) + "\n")
    finally:
        direct.close()
        client.close()
    return rows


def streams(args, sim: Simulator, gateway: Gateway, api_key: str, accounts: list[dict], accounts_file: Path,
            sampler: MemorySampler) -> dict:
    direct = latency.DirectClient(sim.url, accounts)
    try:
        baseline = statistics.median(direct.first_token(STREAM_QUERY) for _ in range(5))
    finally:
        direct.close()
    burst = direct_burst(sim, accounts_file, args.streams)
    idle_rss = sampler.settle(1.5)[0]
    sim.reset_stats()
    cpu0, sim_cpu0 = tree_cpu_seconds(gateway.pid), tree_cpu_seconds(sim.pid)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    argv = loadgen_argv(gateway.url, api_key, args.streams, STREAM_QUERY, timeout=120, expect_chunks=50)
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sim_cpu = tree_cpu_seconds(sim.pid) - sim_cpu0
    loadgen_cpu = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    peak_rss = sampler.peak(started)[0]
    stats = sim.stats()
    return {"streams": args.streams, "ok": out["ok"], "errors": out["errors"],
            "sim_peak_streams": stats.get("streams", {}).get("peak"),
            "ttft_p50_ms": (out["ttft"]["p50"] or 0) * 1000, "ttft_p99_ms": (out["ttft"]["p99"] or 0) * 1000,
            "direct_ttft_ms": baseline * 1000,
            "added_ttft_p99_ms": ((out["ttft"]["p99"] or 0) - baseline) * 1000,
            "direct_burst_ok": burst["ok"], "direct_burst_ttft_p50_ms": burst["ttft"]["p50"] * 1000,
            "direct_burst_ttft_p99_ms": burst["ttft"]["p99"] * 1000,
            "added_ttft_p99_vs_burst_ms": ((out["ttft"]["p99"] or 0) - burst["ttft"]["p99"]) * 1000,
            "gateway_cpu_ms_per_stream": (tree_cpu_seconds(gateway.pid) - cpu0) * 1000 / args.streams,
            "simulator_cpu_ms_per_stream": sim_cpu * 1000 / args.streams,
            "loadgen_cpu_ms_per_stream": loadgen_cpu * 1000 / args.streams,
            "idle_rss": idle_rss, "peak_rss": peak_rss,
            "kib_per_open_stream": (peak_rss - idle_rss) / 1024 / max(1, stats.get("streams", {}).get("peak") or 1)}


def direct_burst(sim: Simulator, accounts_file: Path, streams: int) -> dict:
    """bench/direct_burst.py: `streams` streams straight to the simulator, all started at once."""
    argv = [PYTHON, str(ROOT / "bench" / "direct_burst.py"), "--url", sim.url, "--accounts-file", str(accounts_file),
            "--streams", str(streams), "--query", STREAM_QUERY]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"direct_burst failed: {proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if out["ok"] != streams:
        raise RuntimeError(f"direct_burst: {out['ok']} of {streams} streams answered, errors {out['errors']}")
    return out


def worker_rss(gateway: Gateway) -> dict:
    members = process_tree(gateway.pid)
    return {"master": rss_and_threads(gateway.pid)[0],
            "workers": [rss_and_threads(pid)[0] for pid in members if pid != gateway.pid]}


BURST_TARGET_MS = 1000  # issue 19: first-token p99 of the burst at most this much after the direct burst's


def markdown(result: dict) -> str:
    lines = [f"Workers: {result['workers']} (gevent), database: {result['database']}, load average at start "
             f"{result['load'][0]:.1f}, at end {result['load_end'][0]:.1f}.", "",
             "| concurrency | direct req/s | gateway req/s | direct p50 ms | gateway p50 ms | added p50 ms | "
             "added p99 ms | gateway CPU ms/completion |", "|---|---|---|---|---|---|---|---|"]
    for row in result["completions"]:
        lines.append(f"| {row['concurrency']} | {row['direct_rps']:.0f} | {row['gateway_rps']:.0f} | "
                     f"{row['direct_p50_ms']:.1f} | {row['gateway_p50_ms']:.1f} | {row['added_p50_ms']:.1f} | "
                     f"{row['added_p99_ms']:.1f} | {row['gateway_cpu_ms'] or float('nan'):.2f} |")
    bursts = result.get("streams") or []
    if bursts:
        lines += ["", "| streams at once | ok | open at once (upstream) | first token p50 / p99 ms | direct, one "
                      "stream ms | added p99 ms | direct, as many at once: p50 / p99 ms | added p99 vs those ms | "
                      "CPU ms/stream: gateway, simulator, load generator | KiB per open stream |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in bursts:
            lines.append(f"| {s['streams']} | {s['ok']} | {s['sim_peak_streams']} | {s['ttft_p50_ms']:.0f} / "
                         f"{s['ttft_p99_ms']:.0f} | {s['direct_ttft_ms']:.0f} | {s['added_ttft_p99_ms']:.0f} | "
                         f"{s['direct_burst_ttft_p50_ms']:.0f} / {s['direct_burst_ttft_p99_ms']:.0f} | "
                         f"{s['added_ttft_p99_vs_burst_ms']:.0f} | "
                         f"{s['gateway_cpu_ms_per_stream']:.2f}, {s['simulator_cpu_ms_per_stream']:.2f}, "
                         f"{s['loadgen_cpu_ms_per_stream']:.2f} | {s['kib_per_open_stream']:.0f} |")
        if len(bursts) > 1:
            added = sorted(s["added_ttft_p99_vs_burst_ms"] for s in bursts)
            within = sum(a <= BURST_TARGET_MS for a in added)
            lines += ["", f"Added p99 vs the direct burst over {len(added)} bursts: median "
                          f"{statistics.median(added):.0f} ms ({added[0]:.0f}-{added[-1]:.0f}); {within} of "
                          f"{len(added)} within {BURST_TARGET_MS} ms. KiB per open stream counts from the idle RSS "
                          "before each burst, so only the first burst's is the cost of a stream from a fresh start."]
    m = result["memory"]
    lines += ["", f"Idle RSS once warm: master {m['master'] / 2**20:.0f} MiB, workers "
                  + ", ".join(f"{rss / 2**20:.0f} MiB" for rss in m["workers"]) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,20,64")
    parser.add_argument("--calls", type=int, default=240, help="completions per side and level (at least 12 x c)")
    parser.add_argument("--streams", type=int, default=1000, help="0: skip")
    parser.add_argument("--bursts", type=int, default=1, help="how many times to run the streams' burst (each "
                        "against a direct burst of its own)")
    parser.add_argument("--workers", type=int, default=0, help="default: the gateway's (one per usable CPU)")
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--database-url", default="", help="PostgreSQL database URL (default: a fresh SQLite)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    workers = args.workers or available_cpus()
    raise_nofile_limit()
    tmp, accounts_file, accounts, deployment, api_key = prepare_deployment(
        prefix="gempool-sbs-", accounts=args.accounts, database_url=args.database_url)
    sim = Simulator(accounts_file=accounts_file, log_path=tmp / "sim.log", fragment_delay=0.0, fragments=8,
                    thought_fragments=2)
    gateway = Gateway(deployment, upstream_url=sim.url, worker_class="gevent", workers=workers, threads=1,
                      worker_connections=2000, log_path=tmp / "gateway.log")
    result = {"workers": workers, "database": "PostgreSQL" if args.database_url else "SQLite",
              "load": os.getloadavg()}
    sampler = None
    try:
        sim.start()
        gateway.start()
        sampler = MemorySampler(gateway.pid).start()
        warm_up(gateway, api_key, args.accounts)
        sampler.settle(1.5)
        result["memory"] = worker_rss(gateway)
        result["completions"] = completions(args, sim, gateway, api_key, accounts)
        if args.streams:  # one burst's p99 varies by a few tenths of a second: --bursts repeats it
            result["streams"] = [streams(args, sim, gateway, api_key, accounts, accounts_file, sampler)
                                 for _ in range(args.bursts)]
    finally:
        if sampler is not None:
            sampler.stop()
        gateway.stop()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result["load_end"] = os.getloadavg()
    sys.stdout.write((json.dumps(result, indent=1) if args.json else markdown(result)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
