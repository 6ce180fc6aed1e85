"""Config import cost: parse + validate, dry run, real import (all new), re-import (all updated), in-process.

Runs in its own process against a throwaway database (a temp SQLite file, or a temporary database created
on the PostgreSQL server of --database-url and dropped afterwards) and prints one JSON object: wall-clock
and CPU seconds of this process per phase and account count (on PostgreSQL the server's share of the work
is in the wall-clock figure only). The generated rows look like real ones (cookie-sized secrets, a user agent, a
label; every tenth account disabled); the re-import replaces every cookie and flips `available` on every
fifth row, so it exercises the plain updates and the life-cycle transitions alike.

    python bench/config_import.py --sizes 1000,10000,100000 [--database-url postgres://postgres@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.procs import pg_connect  # noqa: E402

USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/131.0.0.0 Safari/537.36")


def config_document(count: int, *, generation: int = 0) -> dict:
    """A config with `count` accounts; another `generation` changes every cookie and every fifth `available`."""
    cookie = secrets.token_urlsafe(300)  # ~400 characters, like a real __Secure-C_SES
    return {"proxy": "", "proxy_enabled": False, "image_base_url": "",
            "cooldown": {"base_seconds": 60, "max_seconds": 3600, "unavailable_rest_seconds": 15},
            "accounts": [{"team_id": f"team-{i % 997}", "secure_c_ses": f"{cookie}{generation}-{i}",
                          "host_c_oses": f"oses{generation}-{i}", "csesidx": str(1_000_000_000 + i),
                          "user_agent": USER_AGENT, "available": (i % 10 != 0) != (generation and i % 5 == 0),
                          "label": f"seat {i}", "proxy": ""} for i in range(count)],
            "models": [{"id": "gemini-enterprise", "name": "Gemini Enterprise", "description": "", "enabled": True,
                        "context_length": 32768, "max_tokens": 8192, "price_per_1k_tokens": 0,
                        "upstream_model_id": "", "capabilities": ["text"]}]}


def _setup_django(database_url: str, data_dir: str, max_accounts: int) -> None:
    for key in [k for k in os.environ if k.startswith(("GEMPOOL_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))]:
        del os.environ[key]
    os.environ.update({"DJANGO_SETTINGS_MODULE": "gempool_site.settings", "DATABASE_URL": database_url,
                       "GEMPOOL_DATA_DIR": data_dir, "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
                       "GEMPOOL_LOG_LEVEL": "WARNING", "GEMPOOL_IMPORT_MAX_MB": "100",
                       "GEMPOOL_IMPORT_MAX_ACCOUNTS": str(max_accounts)})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _timed(func, profile: bool) -> tuple[float, float, str]:
    """Wall-clock and this process's CPU seconds (the figure to compare on a busy machine), and a profile."""
    profiler = cProfile.Profile() if profile else None
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    func()
    if profiler:
        profiler.disable()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if not profiler:
        return elapsed, cpu, ""
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(18)
    return elapsed, cpu, out.getvalue()


def measure(count: int, *, profile: bool = False) -> dict:
    from accounts.config_io import config_import, config_parse_bytes
    from accounts.models import Account

    Account.objects.all().delete()
    first = json.dumps(config_document(count)).encode()
    second = json.dumps(config_document(count, generation=1)).encode()
    result: dict = {"accounts": count, "mb": round(len(first) / 1048576, 2)}
    profiles: dict[str, str] = {}
    parsed: dict = {}

    def parse() -> None:
        parsed["first"] = config_parse_bytes(first)

    phases = [("parse_validate", parse),
              ("dry_run", lambda: config_import(config=parsed["first"], dry_run=True)),
              ("import_new", lambda: config_import(config=parsed["first"])),
              ("reimport_changed", lambda: config_import(config=config_parse_bytes(second)))]
    for name, func in phases:
        result[name + "_s"], result[name + "_cpu_s"], profiles[name] = _timed(func, profile)
    assert Account.objects.count() == count
    if profile:
        result["profiles"] = profiles
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="time config parse/validate and import vs account count")
    parser.add_argument("--sizes", default="1000,10000,100000", help="account counts, comma-separated")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL (else a temp SQLite file)")
    parser.add_argument("--profile", action="store_true", help="add cProfile's top entries per phase")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",")]
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gempool-import-") as data_dir:
        name = f"gempool_bench_import_{os.getpid()}"
        if args.database_url:
            parts = urlsplit(args.database_url)
            url = urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))
            with pg_connect(args.database_url) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
        else:
            url = f"sqlite:///{data_dir}/import.sqlite3"
        try:
            _setup_django(url, data_dir, max(sizes))
            from django.db import connection

            result = {"vendor": connection.vendor, "load_average_start": load,
                      "runs": [measure(size, profile=args.profile) for size in sizes],
                      "load_average_end": os.getloadavg()}
        finally:
            if args.database_url:
                from django.db import connections

                connections.close_all()
                with pg_connect(args.database_url) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sys.stdout.write(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
