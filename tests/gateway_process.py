"""Start the real thing for end-to-end tests: a gunicorn process serving gempool on a free port."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database the test process is using right now."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


class GatewayProcess:
    """gunicorn + gempool_site.wsgi with production settings, pointed at the test database."""

    def __init__(self, *, database: str, upstream_url: str, data_dir: str, secret_key: str,
                 extra_env: dict[str, str] | None = None, log_path: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or Path(data_dir) / f"gateway-{self.port}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GEMPOOL_", "DJANGO_", "DATABASE_URL"))},
            "DJANGO_SETTINGS_MODULE": "gempool_site.settings",
            "DATABASE_URL": database,
            "GEMPOOL_DATA_DIR": data_dir,
            "DJANGO_SECRET_KEY": secret_key,
            "GEMPOOL_AUTH_URL": upstream_url,
            "GEMPOOL_API_URL": upstream_url,
            "GEMPOOL_BIND": f"127.0.0.1:{self.port}",
            "GEMPOOL_THREADS": "64",
            # One worker unless a test asks for more (tests/multi_instance): what a test observes through
            # one connection and the next must not depend on which worker took each.
            "GEMPOOL_WORKERS": "1",
            "GEMPOOL_ACCESS_LOG": "",
            "GEMPOOL_LOG_LEVEL": "INFO",
            "GEMPOOL_FAILOVER_DEADLINE": "15",
            "GEMPOOL_READ_TIMEOUT": "20",
            "GEMPOOL_CONNECT_TIMEOUT": "3",
            "GEMPOOL_URL_FETCH_ALLOW_PRIVATE": "false",
            # Tests change keys, models and pool settings from the test process, whose save signals this
            # process never hears, and expect the next request to see them; tests/multi_instance keeps the
            # production default and checks that edits made elsewhere arrive within it.
            "GEMPOOL_HOT_ROWS_SECONDS": "0",
            "GEMPOOL_RECORD_BATCH_SECONDS": "0",  # tests read a request's log row right after its answer
            **(extra_env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gempool_site/gunicorn.conf.py", "gempool_site.wsgi"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {self.log_path}:\n{self.log_text()[-3000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer /health in {timeout}s; see {self.log_path}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "_log", None):
            self._log.close()
