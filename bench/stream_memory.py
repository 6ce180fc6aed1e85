"""What each open stream holds: a worker's RSS while long streams are open, against its RSS before them.

    python bench/stream_memory.py [--streams 300] [--at 10] [--runs 3] [--database-url postgres://…]

One gevent worker, warmed up (two completions per account, then 40 short streams). Then `--streams` streams
of 50 fragments 0.4 s apart (20 s each) are opened at once (bench/loadgen.py, no ramp), and the worker's RSS
is read `--at` seconds later, when every setup is over and every stream is being relayed. side_by_side.py's
figure is the peak of a burst, while the setups overlap; this one is what the open streams keep. Each run
starts a fresh gateway and simulator. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.procs import (  # noqa: E402
    Gateway,
    Simulator,
    loadgen_argv,
    prepare_deployment,
    process_tree,
    raise_nofile_limit,
    rss_and_threads,
)
from bench.run import warm_up  # noqa: E402

LONG_STREAM = "[[sim:fragments=50]] [[sim:delay=0.4]] Tell me a long story about a lighthouse keeper."
SHORT_STREAM = "[[sim:fragments=5]] [[sim:delay=0.05]] Say hello."
ACCOUNTS = 20


def one_run(args) -> dict:
    tmp, accounts_file, _accounts, deployment, key = prepare_deployment(
        prefix="gempool-stream-memory-", accounts=ACCOUNTS, database_url=args.database_url)
    sim = Simulator(accounts_file=accounts_file, log_path=tmp / "sim.log", fragment_delay=0.0, fragments=8,
                    thought_fragments=2)
    gateway = Gateway(deployment, upstream_url=sim.url, worker_class="gevent", workers=1, threads=1,
                      worker_connections=2000, log_path=tmp / "gateway.log")
    streams = None
    try:
        sim.start()
        gateway.start()
        warm_up(gateway, key, ACCOUNTS)
        subprocess.run(loadgen_argv(gateway.url, key, 40, SHORT_STREAM, timeout=120), capture_output=True,
                       cwd=ROOT, timeout=120, check=True)
        worker = next(pid for pid in process_tree(gateway.pid) if pid != gateway.pid)
        time.sleep(2)
        before = rss_and_threads(worker)[0]
        streams = subprocess.Popen(loadgen_argv(gateway.url, key, args.streams, LONG_STREAM, timeout=120), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(args.at)
        during = rss_and_threads(worker)[0]
        open_upstream = sim.stats().get("streams", {}).get("active")
    finally:
        if streams is not None:
            streams.kill()
            streams.wait()
        gateway.stop()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rss_before_mib": round(before / 2**20, 1), "growth_mib": round((during - before) / 2**20, 2),
            "open_upstream": open_upstream, "kib_per_open_stream": round((during - before) / 1024 / args.streams, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--at", type=float, default=10.0, help="seconds after opening the streams")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default="", help="PostgreSQL database URL (default: a fresh SQLite)")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    runs = [one_run(args) for _ in range(args.runs)]
    per_stream = [run["kib_per_open_stream"] for run in runs]
    sys.stdout.write(json.dumps({"streams": args.streams, "at_s": args.at, "runs": runs,
                                 "kib_per_open_stream": {"min": min(per_stream), "max": max(per_stream)}}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
