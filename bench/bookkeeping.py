"""Bookkeeping cost per completion, in-process CPU time: what a finished request writes and counts.

Compares, on a throwaway SQLite database, the request's bookkeeping as it was before per-attempt
accounting (the success report and one request-log INSERT in a transaction) with today's (the success
report, the log row with RETURNING, one multi-row INSERT of the attempts, the usage upsert) plus the
Prometheus samples, and the per-request cost of the metrics middleware. Prints one JSON object (µs).

    python bench/bookkeeping.py [--iterations 2000] [--multiprocess]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup(multiprocess: bool) -> None:
    data = tempfile.mkdtemp(prefix="gempool-bookkeeping-")
    os.environ.update({"GEMPOOL_DATA_DIR": data, "DJANGO_SETTINGS_MODULE": "gempool_site.settings"})
    os.environ.pop("DATABASE_URL", None)
    if multiprocess:  # before prometheus_client is imported: it picks its storage then
        os.makedirs(f"{data}/prometheus")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = f"{data}/prometheus"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _cpu_us(fn, iterations: int) -> float:
    for _ in range(min(200, iterations)):
        fn()
    blocks = []
    for _ in range(5):
        started = time.process_time()
        for _ in range(iterations):
            fn()
        blocks.append((time.process_time() - started) / iterations * 1e6)
    return round(statistics.median(blocks), 1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--multiprocess", action="store_true", help="prometheus-client in multi-process mode")
    args = parser.parse_args(argv)
    _setup(args.multiprocess)

    from django.db import transaction
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.utils import timezone

    from accounts.dashboard import request_log_add
    from accounts.models import Account
    from accounts.pool import report_success
    from metering.middleware import MetricsMiddleware
    from metering.records import AttemptRecord, RequestRecord, request_observe, request_record

    account = Account.objects.create(team_id="bench", csesidx="bench", secure_c_ses="bench")

    def before() -> None:
        with transaction.atomic():
            report_success(account=account)
            request_log_add(account_id=account.pk, api_key_id=None, endpoint="chat", model="gemini-2.5-flash",
                            stream=False, status_code=200, latency_ms=100, attempts=1, error_kind="", request_id="r")

    def record() -> RequestRecord:
        return RequestRecord(
            endpoint="chat", model="gemini-2.5-flash", stream=True, status_code=200, latency_ms=100, request_id="r",
            account_id=account.pk, api_key_id=None, key_name="bench", prompt_tokens=10, completion_tokens=5,
            ttft_ms=40, attempts=(AttemptRecord(account_id=account.pk, started_at=timezone.now(), latency_ms=90,
                                                outcome="ok"),))

    def now() -> None:
        rec = record()
        with transaction.atomic():
            report_success(account=account)
            request_record(rec)
        request_observe(rec)

    observed = record()
    request = RequestFactory().get("/v1/models")
    middleware = MetricsMiddleware(lambda r: HttpResponse("x"))
    result = {
        "mode": "multiprocess" if args.multiprocess else "single process",
        "bookkeeping_before_us": _cpu_us(before, args.iterations),
        "bookkeeping_with_attempts_usage_and_metrics_us": _cpu_us(now, args.iterations),
        "metrics_samples_only_us": _cpu_us(lambda: request_observe(observed), args.iterations),
        "middleware_us": _cpu_us(lambda: middleware(request), args.iterations),
        "bare_response_us": _cpu_us(lambda: HttpResponse("x"), args.iterations),
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    main()
