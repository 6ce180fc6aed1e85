"""The processes a benchmark run owns: the simulator, the gateway (gunicorn), and a /proc memory sampler.

Every process is started in its own session (process group) so Ctrl-C in the terminal reaches only the
benchmark, which then tears everything down in order; `stop()` signals the group it created and nothing
else.
"""
from __future__ import annotations

import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def loadgen_argv(url: str, key: str, streams: int, query: str, *, ramp: float = 0, timeout: float | None = None,
                 expect_chunks: int | None = None) -> list[str]:
    """The command line of bench/loadgen.py: `streams` streamed chat completions of `query` against `url`."""
    argv = [PYTHON, str(ROOT / "bench" / "loadgen.py"), "--url", url, "--key", key, "--streams", str(streams),
            "--ramp", str(ramp), "--query", query]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    if expect_chunks is not None:
        argv += ["--expect-chunks", str(expect_chunks)]
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one (children inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def http_json(method: str, url: str, body: dict | None = None, timeout: float = 5.0) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return json.loads(resp.read() or b"null")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment minus gempool/Django/DB knobs (the caller sets its own), plus `extra`."""
    prefixes = ("GEMPOOL_", "DJANGO_", "DATABASE_URL", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


class Managed:
    """A child process in its own process group, with its output in a log file."""

    name = "process"

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.argv, self.env, self.log_path = argv, env, log_path
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def spawn(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_http(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early; log {self.log_path}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - loopback only
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:.0f} s; log {self.log_path}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the group we created; SIGKILL after `timeout`. Safe to call twice."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        if proc is not None:
            _signal_group(proc.pid, signal.SIGKILL)  # stragglers of the group (e.g. a stuck worker)
        if self._log is not None:
            self._log.close()
            self._log = None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Simulator(Managed):
    name = "simulator"

    def __init__(self, *, accounts_file: Path, log_path: Path, fragment_delay: float = 0.0,
                 fragments: int = 8, thought_fragments: int = 2, nagle: bool = False,
                 threads: bool = False, typical_writes: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # bench/simulator.py = `python -m gemini_enterprise.simulator` under gevent, with TCP_NODELAY (see there).
        argv = [PYTHON, str(ROOT / "bench" / "simulator.py"), "--port", str(self.port),
                "--accounts", str(accounts_file), "--fragment-delay", str(fragment_delay),
                "--fragments", str(fragments), "--thought-fragments", str(thought_fragments),
                "--log-level", "WARNING", *(["--nagle"] if nagle else []), *(["--threads"] if threads else []),
                *(["--typical-writes"] if typical_writes else [])]
        super().__init__(argv, clean_env(), log_path)

    def start(self) -> Simulator:
        self.spawn()
        self.wait_http(self.url + "/_sim/health", timeout=30)
        return self

    def stats(self) -> dict:
        return http_json("GET", self.url + "/_sim/stats")  # type: ignore[return-value]

    def reset_stats(self) -> None:
        http_json("POST", self.url + "/_sim/reset", {})


@dataclass
class Deployment:
    """What the gateway runs on: database, data dir, secret, and the simulator it points at."""

    data_dir: Path
    database_url: str
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(40))

    def env(self, **extra: str) -> dict[str, str]:
        base = {"DJANGO_SETTINGS_MODULE": "gempool_site.settings", "DATABASE_URL": self.database_url,
                "GEMPOOL_DATA_DIR": str(self.data_dir), "DJANGO_SECRET_KEY": self.secret_key,
                "DJANGO_DEBUG": "false", "GEMPOOL_LOG_LEVEL": "WARNING"}
        return clean_env(**{**base, **extra})

    def manage(self, *args: str, timeout: float = 300) -> str:
        """Run manage.py with this deployment's settings; returns stdout, raises with stderr on failure."""
        result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env(), capture_output=True,
                                text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout


def pg_connect(url: str):
    """An autocommit connection to the PostgreSQL server of `url` (its database, else `postgres`): for creating
    and dropping the benchmarks' throwaway databases."""
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                           user=parts.username or "postgres", password=parts.password or None,
                           dbname=(parts.path or "/postgres").lstrip("/") or "postgres", autocommit=True,
                           connect_timeout=5)


class PreparedDeployment(NamedTuple):
    """A throwaway deployment with `accounts` seats imported and an API key: what each probe starts from."""

    tmp: Path
    accounts_file: Path
    accounts: list[dict]
    deployment: Deployment
    api_key: str


def prepare_deployment(*, prefix: str, accounts: int, database_url: str = "") -> PreparedDeployment:
    """A temp dir with an accounts file, a migrated database (database_url, else a fresh SQLite) holding those
    accounts, and a new API key. The caller removes `tmp` when done."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    accounts_file = tmp / "accounts.json"
    seats = write_accounts_file(accounts_file, accounts)
    deployment = Deployment(data_dir=tmp / "data", database_url=database_url or f"sqlite:///{tmp / 'gempool.sqlite3'}")
    deployment.manage("migrate", "--noinput")
    deployment.manage("importconfig", str(accounts_file))
    api_key = deployment.manage("createapikey", prefix.strip("-")).strip().splitlines()[-1].strip()
    return PreparedDeployment(tmp, accounts_file, seats, deployment, api_key)


def write_accounts_file(path: Path, count: int) -> list[dict]:
    """A business_gemini_session.json with `count` seats (the simulator and gempool both load it)."""
    accounts = [{"team_id": f"00000000-0000-4000-8000-{i:012d}", "secure_c_ses": f"bench-ses-{secrets.token_hex(8)}",
                 "host_c_oses": f"bench-oses-{i}", "csesidx": str(2_000_000_000 + i), "user_agent": "",
                 "available": True, "label": f"bench seat {i}"} for i in range(1, count + 1)]
    path.write_text(json.dumps({"proxy": "", "proxy_enabled": False, "accounts": accounts, "models": []}))
    return accounts


class Gateway(Managed):
    """gunicorn serving gempool_site.wsgi with production settings (DEBUG off, access log off)."""

    name = "gateway"

    def __init__(self, deployment: Deployment, *, upstream_url: str, worker_class: str, workers: int,
                 threads: int, worker_connections: int, log_path: Path,
                 config: str = "gempool_site/gunicorn.conf.py", extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = deployment.env(
            GEMPOOL_AUTH_URL=upstream_url,
            GEMPOOL_API_URL=upstream_url,
            GEMPOOL_BIND=f"127.0.0.1:{self.port}",
            GEMPOOL_WORKER_CLASS=worker_class,
            GEMPOOL_WORKERS=str(workers),
            GEMPOOL_THREADS=str(threads),
            GEMPOOL_WORKER_CONNECTIONS=str(worker_connections),
            GEMPOOL_ACCESS_LOG="",  # off, as in production behind a proxy that logs
            GEMPOOL_LOG_LEVEL="INFO",  # the production default: its cost is part of what we measure
            **(extra_env or {}),
        )
        argv = [PYTHON, "-m", "gunicorn", "--config", config, "gempool_site.wsgi"]
        super().__init__(argv, env, log_path)

    def start(self) -> Gateway:
        self.spawn()
        self.wait_http(self.url + "/health", timeout=60)
        return self


# ---- memory sampling -------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (via /proc/<pid>/task/<tid>/children, else a /proc scan)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(_children(current))
    return out


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as handle:
                    kids.extend(int(x) for x in handle.read().split())
            except OSError:
                continue
    except OSError:
        return []
    return kids


def rss_and_threads(pid: int) -> tuple[int, int]:
    """(VmRSS in bytes, thread count) of one process; (0, 0) when it is gone."""
    rss = threads = 0
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        return 0, 0
    return rss, threads


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process tree (exited threads included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in process_tree(pid):
        try:
            with open(f"/proc/{member}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def tree_usage(pid: int) -> tuple[int, int, int]:
    """(summed RSS bytes, summed threads, process count) of a process tree."""
    rss = threads = count = 0
    for member in process_tree(pid):
        r, t = rss_and_threads(member)
        if r:
            rss, threads, count = rss + r, threads + t, count + 1
    return rss, threads, count


class MemorySampler:
    """Samples a process tree's RSS and threads every `interval` s in a background thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int, int]] = []  # (monotonic, rss, threads)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mem-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss, threads, _ = tree_usage(self.pid)
            self.samples.append((time.monotonic(), rss, threads))
            self._stop.wait(self.interval)

    def peak(self, since: float, until: float | None = None) -> tuple[int, int]:
        """(peak RSS, peak threads) among samples in [since, until]."""
        until = until if until is not None else time.monotonic()
        window = [s for s in self.samples if since <= s[0] <= until]
        if not window:
            rss, threads, _ = tree_usage(self.pid)
            return rss, threads
        return max(s[1] for s in window), max(s[2] for s in window)

    def settle(self, seconds: float = 2.0) -> tuple[int, int]:
        """Median-ish RSS and threads over a short quiet window (the idle baseline)."""
        start = time.monotonic()
        time.sleep(seconds)
        window = [s for s in self.samples if s[0] >= start] or [(0.0, *tree_usage(self.pid)[:2])]
        rss = sorted(s[1] for s in window)[len(window) // 2]
        threads = sorted(s[2] for s in window)[len(window) // 2]
        return rss, threads
