"""Leasing cost: time per accounts.pool.lease_account() with a small and a large pool, in-process.

Runs in its own process (Django is set up here against a throwaway database: a temp SQLite file, or a
temporary database created on the PostgreSQL server of --database-url and dropped afterwards) and prints
one JSON object. Pool states measured, each with --small and --large accounts:

- steady:  every account has been used before (distinct last_used_at): the normal state of a pool;
- fresh:   accounts never used (last_used_at NULL), e.g. just imported;
- resting: steady, but 5 % cooling down (until the future) and 5 % needing a login, with the resting
           ones being the least recently used (they stopped being leased): the lease query has to pass
           over them every time.

    python bench/leasing.py --leases 3000 [--database-url postgres://postgres@127.0.0.1:5432/postgres]
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.procs import pg_connect  # noqa: E402

SCENARIOS = ("steady", "fresh", "resting")


def _setup_django(database_url: str, data_dir: str) -> None:
    for key in [k for k in os.environ if k.startswith(("GEMPOOL_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))]:
        del os.environ[key]
    os.environ.update({"DJANGO_SETTINGS_MODULE": "gempool_site.settings", "DATABASE_URL": database_url,
                       "GEMPOOL_DATA_DIR": data_dir, "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
                       "GEMPOOL_LOG_LEVEL": "WARNING"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _use_db(name: str) -> None:
    """Point the default connection at another database (SQLite file or PostgreSQL database name).
    Both pools live in their own database so the two sizes can be measured in alternating blocks."""
    from django.db import connections

    connection = connections["default"]
    connection.close()
    if connection.vendor == "postgresql" and hasattr(connection, "close_pool"):
        connection.close_pool()  # the psycopg pool is bound to the database it was opened on
    connection.settings_dict["NAME"] = name


def _current_db() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()" if connection.vendor == "postgresql" else
                       "SELECT file FROM pragma_database_list WHERE name = 'main'")
        return str(cursor.fetchone()[0])


def _fill(count: int) -> None:
    from django.utils import timezone

    from accounts.models import Account

    Account.objects.all().delete()
    cipher_sample = Account(team_id="t", csesidx="0", secure_c_ses="bench-cookie", host_c_oses="bench-oses")
    now = timezone.now()
    rows = [Account(team_id=f"team-{i}", csesidx=str(3_000_000_000 + i), secure_c_ses=cipher_sample.secure_c_ses,
                    host_c_oses=cipher_sample.host_c_oses, created_at=now, updated_at=now) for i in range(count)]
    Account.objects.bulk_create(rows, batch_size=1000)
    _analyze()


def _analyze() -> None:
    """Fresh planner statistics, as autovacuum would have gathered on a pool that has been running."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def _shape(scenario: str) -> None:
    """Put the pool into one of SCENARIOS (ids in random LRU order, as after real use)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Account, AccountStatus

    now = timezone.now()
    ids = list(Account.objects.values_list("id", flat=True))
    order = sorted(ids, key=lambda _: secrets.randbits(32))
    resting = len(ids) // 10 if scenario == "resting" else 0
    adapt = connection.ops.adapt_datetimefield_value
    rows = []
    for rank, pk in enumerate(order):
        status, until, used = AccountStatus.ACTIVE, None, None
        if scenario != "fresh":  # the least recently used come first; resting ones were used longest ago
            used = adapt(now - timedelta(hours=1) + timedelta(milliseconds=rank))
        if rank < resting // 2:
            status, until = AccountStatus.COOLING_DOWN, adapt(now + timedelta(hours=2))
        elif rank < resting:
            status = AccountStatus.NEEDS_LOGIN
        rows.append((str(status), until, used, pk))
    table = Account._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # ready_at as the pool keeps it: the end of a rest while cooling down, else the last use.
        cursor.executemany(f"UPDATE {table} SET enabled = %s, status = %s, cooldown_until = %s, "
                           "last_used_at = %s, ready_at = %s WHERE id = %s",
                           [(True, status, until, used, until or used, pk) for status, until, used, pk in rows])
    _analyze()


def _stats(wall_ns: list[int], cpu_ns: list[int]) -> dict:
    """p50/mean/p99 of wall time and p50/mean of CPU time, in ms."""
    wall = sorted(t / 1e6 for t in wall_ns)
    cpu = sorted(t / 1e6 for t in cpu_ns)
    return {"n": len(wall), "p50_ms": wall[len(wall) // 2], "mean_ms": sum(wall) / len(wall),
            "p99_ms": wall[min(len(wall) - 1, int(len(wall) * 0.99))],
            "cpu_p50_ms": cpu[len(cpu) // 2], "cpu_mean_ms": sum(cpu) / len(cpu)}


def _measure(leases: int, *, reconnect: bool) -> tuple[list[int], list[int]]:
    """Wall and CPU ns per lease. CPU time (this thread's) is what the lease costs; wall time adds
    whatever the other processes on a busy machine take from us, and SQLite's rare checkpoints."""
    from django.db import close_old_connections, connections

    from accounts.pool import lease_account

    wall, cpu = [], []
    for _ in range(leases):
        if reconnect:
            close_old_connections()
        started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
        account = lease_account()
        if reconnect:
            connections.close_all()  # what openai_api/chat.py does after every lease
        cpu.append(time.thread_time_ns() - started_cpu)
        wall.append(time.perf_counter_ns() - started)
        if account is None:
            raise RuntimeError("lease_account() returned None")
    return wall, cpu


def _lease_sql() -> tuple[str, list]:
    """The SELECT by which lease_account() picks the account (on PostgreSQL, inside its one statement)."""
    from django.utils import timezone

    from accounts.pool import lease_select

    return lease_select(now=timezone.now())


def _query_cost(repeat: int) -> dict:
    """The lease's SELECT alone, as raw SQL: the part of a lease that can depend on the pool's size."""
    from django.db import connection

    sql, params = _lease_sql()
    wall, cpu = [], []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            started, started_cpu = time.perf_counter_ns(), time.thread_time_ns()
            cursor.execute(sql, params)
            cursor.fetchall()
            cpu.append(time.thread_time_ns() - started_cpu)
            wall.append(time.perf_counter_ns() - started)
        stats = _stats(wall, cpu)
        if connection.vendor == "postgresql":
            # The server's own execution time: robust to client-side noise on a busy machine.
            server = []
            for _ in range(min(repeat, 50)):
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                server.append(plan[0]["Execution Time"])
            server.sort()
            stats["server_p50_ms"] = server[len(server) // 2]
    return stats


def _plan() -> str:
    """The database's plan for the lease query (why its cost does or does not grow with the pool)."""
    from django.db import connection

    sql, params = _lease_sql()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return " | ".join(str(row[-1]) for row in cursor.fetchall())
        cursor.execute("EXPLAIN " + sql, params)
        return " | ".join(row[0].strip() for row in cursor.fetchall())


def _alternate(dbs: dict[int, str], leases: int, blocks: int, *, reconnect: bool = False) -> dict[int, dict]:
    """Lease in alternating blocks on each database, so load from other processes hits every size alike."""
    from accounts.pool import lease_account

    wall: dict[int, list[int]] = {size: [] for size in dbs}
    cpu: dict[int, list[int]] = {size: [] for size in dbs}
    for _ in range(blocks):
        for size, name in dbs.items():
            _use_db(name)
            for _ in range(3):
                lease_account()  # untimed: opens the connection after the switch
            block = _measure(max(1, leases // blocks), reconnect=reconnect)
            wall[size] += block[0]
            cpu[size] += block[1]
    return {size: _stats(wall[size], cpu[size]) for size in dbs}


def run(dbs: dict[int, str], leases: int, blocks: int = 10) -> dict:
    from django.core.management import call_command

    out: dict = {"results": [], "plans": {}}
    for size, name in dbs.items():
        _use_db(name)
        if not _current_db().endswith(name.rsplit("/", 1)[-1]):
            raise RuntimeError(f"could not switch to database {name}")
        call_command("migrate", verbosity=0, interactive=False)
        _fill(size)
    largest = max(dbs)
    for scenario in SCENARIOS:
        for name in dbs.values():
            _use_db(name)
            _shape(scenario)
        timed = _alternate(dbs, leases, blocks)
        reconnect = (_alternate(dbs, max(200, leases // 5), blocks, reconnect=True)
                     if scenario == "steady" else {})
        for size, name in dbs.items():
            _use_db(name)
            from accounts.models import Account

            row = {"accounts": size, "scenario": scenario, "accounts_in_db": Account.objects.count(), **timed[size],
                   "select_only": _query_cost(max(100, leases // 5))}
            if size in reconnect:
                row["with_reconnect"] = reconnect[size]
            out["results"].append(row)
            if size == largest and scenario in ("steady", "resting"):
                out["plans"][scenario] = _plan()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="time accounts.pool.lease_account() vs pool size")
    parser.add_argument("--leases", type=int, default=3000, help="timed leases per pool size and state")
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server URL (else temp SQLite files)")
    args = parser.parse_args(argv)
    sizes = (args.small, args.large)
    with tempfile.TemporaryDirectory(prefix="gempool-lease-") as data_dir:
        created: list[str] = []
        if args.database_url:
            tag = f"gempool_bench_lease_{os.getpid()}"
            dbs = {size: f"{tag}_{size}" for size in sizes}
            parts = urlsplit(args.database_url)
            url = urlunsplit((parts.scheme, parts.netloc, "/" + dbs[args.small], "", ""))
        else:
            dbs = {size: f"{data_dir}/lease-{size}.sqlite3" for size in sizes}
            url = f"sqlite:///{dbs[args.small]}"
        try:
            if args.database_url:
                with pg_connect(args.database_url) as admin:
                    for name in dbs.values():
                        admin.execute(f'CREATE DATABASE "{name}"')
                        created.append(name)
            _setup_django(url, data_dir)
            from django.db import connection

            result = run(dbs, args.leases)
            result["vendor"] = connection.vendor
            result["server_version"] = _server_version(connection)
        finally:
            if created:
                from django.db import connections

                connections.close_all()
                with pg_connect(args.database_url) as admin:
                    for name in created:
                        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


def _server_version(connection) -> str:
    if connection.vendor == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


if __name__ == "__main__":
    sys.exit(main())
