"""Benchmark gempool against the upstream simulator and write bench/results.md (see bench/README.md).

    python bench/run.py [--quick] [--worker-class gthread|gevent|all] [--levels 100,250,500,1000]
                        [--database-url postgres://user@host:5432/postgres] [--lease-postgres auto|off|URL]

For each worker class: start the simulator and gempool (gunicorn, production settings) as their own
processes, then measure (a) added latency of non-stream completions, (b) time to first content token,
(c) concurrent ~5 s streams at each level, (d) the gateway's peak memory and threads at each level,
(e) a 20 MB upload followed by a chat that uses it. Then leasing cost with 10 vs 10,000 accounts.
Everything started here is stopped here, also on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench import latency, report  # noqa: E402
from bench.procs import (  # noqa: E402
    PYTHON,
    Deployment,
    Gateway,
    MemorySampler,
    Simulator,
    loadgen_argv,
    pg_connect,
    raise_nofile_limit,
    tree_cpu_seconds,
    write_accounts_file,
)
from bench.upload import upload_then_chat  # noqa: E402
from gempool_site.cpus import available_cpus  # noqa: E402

BENCH = ROOT / "bench"
SHORT_QUERY = "Say hello in one short sentence."
STREAM_QUERY = ("[[sim:fragments=50]] [[sim:delay=0.1]] Tell me a long story about a lighthouse keeper who "
                "counts the ships that pass, one by one, through a winter of storms, and what she learns.")
WORKER_SETTINGS = {  # what each worker class needs to hold 1000 streams in one process
    "gthread": {"threads": 1100, "worker_connections": 2000},
    "gevent": {"threads": 1, "worker_connections": 2000},
}


class Interrupted(Exception):
    """SIGTERM: unwind through every finally block like Ctrl-C does."""


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests and levels (about 3 minutes)")
    parser.add_argument("--worker-class", choices=("gthread", "gevent", "all"), default="all")
    parser.add_argument("--levels", help="concurrent stream levels (default: 100,250,500,1000; quick: 100,500)")
    parser.add_argument("--workers", type=int, default=available_cpus(),
                        help="gunicorn worker processes (default: one per usable CPU, the project default)")
    parser.add_argument("--accounts", type=int, default=20, help="accounts in the gateway's pool (default 20)")
    parser.add_argument("--database-url", default="",
                        help="PostgreSQL server for the gateway (a throwaway database is created on it and "
                             "dropped afterwards); default: a fresh SQLite file in a temp dir")
    parser.add_argument("--lease-postgres", default="auto",
                        help="leasing on PostgreSQL too: auto (if 127.0.0.1:5432 answers; not in --quick), "
                             "off, or a server URL")
    parser.add_argument("--skip", default="",
                        help="comma list of parts to skip: latency,ttft,streams,upload,seqttft,lease")
    parser.add_argument("--output", default=str(BENCH / "results.md"), help="where to write the markdown")
    parser.add_argument("--sim-nagle", action="store_true",
                        help="simulator with Nagle on (~40 ms stalls per response, see bench/README.md)")
    parser.add_argument("--sim-threads", action="store_true",
                        help="simulator on OS threads, as shipped (default: under gevent, see bench/simulator.py)")
    parser.add_argument("--gunicorn-config", default="gempool_site/gunicorn.conf.py",
                        help="gunicorn config file (to try a change; default: the project's)")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temp dir (logs, database)")
    args = parser.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    levels = args.levels or ("100,500" if args.quick else "100,250,500,1000")
    args.levels = [int(x) for x in levels.split(",") if x.strip()]
    args.classes = ["gthread", "gevent"] if args.worker_class == "all" else [args.worker_class]
    q = args.quick
    args.calls_c1, args.calls_c32, args.calls_ttft = (80, 192, 40) if q else (300, 640, 150)
    args.leases = 500 if q else 2000
    args.command = "python bench/run.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None
                                                                              else sys.argv[1:]))
    return args


# ---- databases --------------------------------------------------------------------------------


def _pg(url: str, sql: str) -> None:
    with pg_connect(url) as conn:
        conn.execute(sql)


def postgres_reachable(url: str) -> bool:
    try:
        _pg(url, "SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False
    return True


# ---- one worker class -----------------------------------------------------------------------------


def warm_up(gateway: Gateway, api_key: str, accounts: int) -> None:
    """Two requests per account (rotation reaches every account, so each has its JWT), then one stream."""
    client = latency.GatewayClient(gateway.url, api_key)
    try:
        for _ in range(2 * accounts):
            client.complete(SHORT_QUERY)
        client.first_token(SHORT_QUERY)
    finally:
        client.close()


def run_latency(out: dict, args, sim: Simulator, gateway: Gateway, api_key: str, accounts: list[dict]) -> dict:
    direct = latency.DirectClient(sim.url, accounts)
    client = latency.GatewayClient(gateway.url, api_key)
    cpu = {"gateway_cpu": lambda: tree_cpu_seconds(gateway.pid), "upstream_cpu": lambda: tree_cpu_seconds(sim.pid)}
    try:
        if "latency" not in args.skip:
            log("  (a) non-stream completions, concurrency 1")
            out["c1"] = latency.compare(lambda: direct.complete(SHORT_QUERY), lambda: client.complete(SHORT_QUERY),
                                        concurrency=1, calls=args.calls_c1, **cpu)
            log("  (a) non-stream completions, concurrency 32")
            out["c32"] = latency.compare(lambda: direct.complete(SHORT_QUERY),
                                         lambda: client.complete(SHORT_QUERY), concurrency=32,
                                         calls=args.calls_c32, **cpu)
        if "ttft" not in args.skip:
            log("  (b) time to first content token")
            out["ttft"] = latency.compare(lambda: direct.first_token(SHORT_QUERY),
                                          lambda: client.first_token(SHORT_QUERY), concurrency=1,
                                          calls=args.calls_ttft, **cpu)
        if "streams" not in args.skip:
            started = time.perf_counter()
            direct.complete(STREAM_QUERY)
            out["stream_direct_s"] = time.perf_counter() - started  # what one stream takes with no gateway
    finally:
        direct.close()
        client.close()
    return out


def run_level(level: int, sim: Simulator, gateway: Gateway, api_key: str, sampler: MemorySampler,
              idle: tuple[int, int], tmp: Path) -> dict:
    sim.reset_stats()
    ramp = min(2.0, 0.5 + level / 500)
    argv = loadgen_argv(gateway.url, api_key, level, STREAM_QUERY, ramp=ramp, timeout=90, expect_chunks=50)
    t0 = time.monotonic()
    cpu0 = tree_cpu_seconds(gateway.pid)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=150, cwd=ROOT,
                              start_new_session=True, check=False)
    except subprocess.TimeoutExpired:
        return {"streams": level, "ok": 0, "failed": level, "errors": {"loadgen_timeout": level}}
    t1 = time.monotonic()
    if proc.returncode != 0 or not proc.stdout.strip():
        (tmp / f"loadgen-{level}.err").write_text(proc.stderr)
        return {"streams": level, "ok": 0, "failed": level, "errors": {"loadgen_crashed": level},
                "stderr": proc.stderr[-1000:]}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["gateway_cpu_ms_per_stream"] = (tree_cpu_seconds(gateway.pid) - cpu0) * 1000 / level
    peak_rss, peak_threads = sampler.peak(t0, t1)
    stats = sim.stats()
    result.update(peak_rss=peak_rss, peak_threads=peak_threads, idle_rss=idle[0], idle_threads=idle[1],
                  sim_peak_streams=stats.get("streams", {}).get("peak"),
                  sim_peak_connections=stats.get("connections", {}).get("peak"),
                  gateway_alive=gateway.alive())
    quiet_deadline = time.monotonic() + 20
    while time.monotonic() < quiet_deadline and sim.stats().get("streams", {}).get("active"):
        time.sleep(0.25)
    result["after_rss"], result["after_threads"] = sampler.settle(1.5)
    return result


def run_class(out: dict, worker_class: str, args, deployment: Deployment, accounts: list[dict],
              accounts_file: Path, api_key: str, tmp: Path) -> dict:
    """Fill `out` as parts finish (so an interrupted run still reports what it measured)."""
    out.update(worker_class=worker_class, workers=args.workers, **WORKER_SETTINGS[worker_class])
    sim = Simulator(accounts_file=accounts_file, log_path=tmp / f"simulator-{worker_class}.log",
                    fragment_delay=0.0, fragments=8, thought_fragments=2, nagle=args.sim_nagle,
                    threads=args.sim_threads)
    gateway = Gateway(deployment, upstream_url=sim.url, worker_class=worker_class, workers=args.workers,
                      log_path=tmp / f"gateway-{worker_class}.log", config=args.gunicorn_config,
                      **WORKER_SETTINGS[worker_class])
    sampler = None
    try:
        sim.start()
        gateway.start()
        log(f"{worker_class}: simulator on {sim.url} (pid {sim.pid}), gateway on {gateway.url} (pid {gateway.pid}, "
            f"{args.workers} worker(s))")
        sampler = MemorySampler(gateway.pid).start()
        warm_up(gateway, api_key, len(accounts))
        out["idle_rss"], out["idle_threads"] = sampler.settle(2.0)
        run_latency(out.setdefault("latency", {}), args, sim, gateway, api_key, accounts)
        if "streams" not in args.skip:
            out["levels"] = []
            idle = sampler.settle(1.5)
            for level in args.levels:
                if not gateway.alive():
                    out["levels"].append({"streams": level, "skipped": "gateway died"})
                    continue
                log(f"  (c)/(d) {level} concurrent streams")
                row = run_level(level, sim, gateway, api_key, sampler, idle, tmp)
                log(f"      ok {row.get('ok')}/{level}, errors {row.get('errors')}, peak RSS "
                    f"{(row.get('peak_rss') or 0) / 2**20:.0f} MiB")
                out["levels"].append(row)
        if "upload" not in args.skip and gateway.alive():
            log("  (e) 20 MB upload + chat")
            out["upload"] = upload_then_chat(gateway.url, api_key, sampler)
        out["gateway_alive_at_end"] = gateway.alive()
    except (requests.RequestException, RuntimeError, OSError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"[:1000]
        log(f"{worker_class}: failed: {out['error']}")
    finally:
        if sampler is not None:
            sampler.stop()
        gateway.stop()
        sim.stop()
        out["log"] = scan_log(gateway.log_path)
        out["log"]["kept"] = keep_log(gateway.log_path, f"gateway-{worker_class}.log")
    return out


LEVELS = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")
EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): ?(.*)")


def scan_log(path: Path) -> dict:
    """Count warning/error lines of the gateway's log, the most frequent kinds, and the exceptions raised."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    kinds: Counter[str] = Counter()
    exceptions: Counter[str] = Counter()
    count = 0
    for line in lines:
        if match := LEVELS.search(line):
            count += 1
            kinds[re.sub(r"\d+", "N", line[match.start():])[:140]] += 1
        elif match := EXCEPTION.match(line):
            exceptions[re.sub(r"\d+|request_id=\w+", "N", f"{match[1]}: {match[2]}")[:140]] += 1
    return {"lines": len(lines), "warnings_errors": count, "top": kinds.most_common(6),
            "exceptions": exceptions.most_common(4)}


def keep_log(path: Path, name: str) -> str:
    """Copy a log to bench/tmp/ (git-ignored), so it outlives the temp dir; returns the new path."""
    target = BENCH / "tmp" / name
    try:
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, target)
    except OSError:
        return ""
    return str(target.relative_to(ROOT))


# ---- leasing ---------------------------------------------------------------------------------------


def run_leasing(args) -> list[dict]:
    targets = [("SQLite", "")]
    pg = args.lease_postgres
    if pg == "auto":
        pg = "" if args.quick else "postgres://postgres@127.0.0.1:5432/postgres"
    if pg and pg != "off":
        if postgres_reachable(pg):
            targets.append(("PostgreSQL", pg))
        else:
            log(f"leasing: PostgreSQL at {pg} does not answer; skipped")
    out = []
    for label, url in targets:
        log(f"leasing on {label}: 10 vs 10,000 accounts, {args.leases} leases each")
        argv = [PYTHON, str(BENCH / "leasing.py"), "--leases", str(args.leases)]
        if url:
            argv += ["--database-url", url]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT,
                                  start_new_session=True, check=False)
        except subprocess.TimeoutExpired:
            out.append({"label": label, "error": "timed out after 900 s"})
            continue
        if proc.returncode != 0:
            out.append({"label": label, "error": proc.stderr[-1500:]})
            continue
        out.append({"label": label, **json.loads(proc.stdout.strip().splitlines()[-1])})
    return out


def run_seq_ttft(args) -> dict:
    """(f) first token of sequential streams: bench/ttft_probe.py (its own simulator and gateway)."""
    streams = 8 if args.quick else 24
    log(f"(f) first token, sequential streams on one account, Nagle-on upstream ({streams} per side and client)")
    argv = [PYTHON, str(BENCH / "ttft_probe.py"), "--client", "openai,close", "--streams", str(streams),
            "--blocks", "4", "--workers", str(args.workers)]
    if args.database_url:
        log("  (f) runs on SQLite only")
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=1200, cwd=ROOT, start_new_session=True,
                              check=False)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 1200 s"}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"error": proc.stderr[-1500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---- the run -----------------------------------------------------------------------------------------


def machine_info() -> dict:
    import sqlite3

    import django
    import gevent
    import gunicorn

    mem = cpu = ""
    with open("/proc/meminfo") as handle:
        mem = next((line.split(":")[1].strip() for line in handle if line.startswith("MemTotal")), "")
    with open("/proc/cpuinfo") as handle:
        cpu = next((line.split(":")[1].strip() for line in handle if line.startswith("model name")), "")
    return {"nproc": os.cpu_count(), "memory": mem, "cpu": cpu, "kernel": platform.release(),
            "python": platform.python_version(), "django": django.get_version(), "gunicorn": gunicorn.__version__,
            "gevent": gevent.__version__, "requests": requests.__version__, "sqlite": sqlite3.sqlite_version,
            "load_start": os.getloadavg()}


def prepare(args, tmp: Path) -> tuple[Deployment, list[dict], Path, str, str | None]:
    """Accounts file, fresh database (migrated, accounts imported), API key."""
    accounts_file = tmp / "accounts.json"
    accounts = write_accounts_file(accounts_file, args.accounts)
    throwaway = None
    if args.database_url:
        throwaway = f"gempool_bench_{os.getpid()}"
        _pg(args.database_url, f'CREATE DATABASE "{throwaway}"')
        parts = urlsplit(args.database_url)
        url = urlunsplit((parts.scheme, parts.netloc, "/" + throwaway, "", ""))
    else:
        url = f"sqlite:///{tmp / 'gempool.sqlite3'}"
    deployment = Deployment(data_dir=tmp / "data", database_url=url)
    log(f"migrating a fresh database ({'PostgreSQL' if throwaway else 'SQLite'}), importing "
        f"{args.accounts} accounts")
    deployment.manage("migrate", "--noinput")
    deployment.manage("importconfig", str(accounts_file))
    api_key = deployment.manage("createapikey", "bench").strip().splitlines()[-1].strip()
    return deployment, accounts, accounts_file, api_key, throwaway


def _on_sigterm(signum: int, frame: object) -> None:
    raise Interrupted


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nofile = raise_nofile_limit()
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Started in the background by a non-interactive shell, SIGINT arrives ignored; Ctrl-C must still work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    results: dict = {"meta": {**machine_info(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                              "command": args.command, "quick": args.quick, "levels": args.levels,
                              "accounts": args.accounts, "nofile": nofile, "sim_nagle": args.sim_nagle,
                              "sim_threads": args.sim_threads,
                              "gunicorn_config": args.gunicorn_config,
                              "database": "PostgreSQL" if args.database_url else "SQLite"},
                     "classes": {}, "leasing": []}
    tmp = Path(tempfile.mkdtemp(prefix="gempool-bench-"))
    throwaway = None
    started = time.monotonic()
    interrupted = False
    try:
        deployment, accounts, accounts_file, api_key, throwaway = prepare(args, tmp)
        for worker_class in args.classes:
            run_class(results["classes"].setdefault(worker_class, {}), worker_class, args, deployment, accounts,
                      accounts_file, api_key, tmp)
        if "seqttft" not in args.skip:
            results["seq_ttft"] = run_seq_ttft(args)
        if "lease" not in args.skip:
            results["leasing"] = run_leasing(args)
    except (KeyboardInterrupt, Interrupted):
        interrupted = True
        log("interrupted: processes stopped; writing what was measured")
    finally:
        if throwaway:
            try:
                _pg(args.database_url, f'DROP DATABASE IF EXISTS "{throwaway}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the run's outcome
                log(f"could not drop {throwaway}: {exc}")
        if args.keep_temp:
            log(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["meta"]["load_end"] = os.getloadavg()
    results["meta"]["duration_s"] = round(time.monotonic() - started)
    results["meta"]["interrupted"] = interrupted
    markdown = report.render(results)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)  # after minutes of measuring, a missing folder must not lose them
    output.write_text(markdown)
    output.with_suffix(".json").write_text(json.dumps(results, indent=1, default=str))
    if output.resolve() == (BENCH / "results.md").resolve():
        report.update_readme(BENCH / "README.md", markdown)
    sys.stdout.write(markdown + "\n")
    log(f"wrote {output} and {output.with_suffix('.json')} in {results['meta']['duration_s']} s")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
