"""Run in a separate process by the pool tests: many threads leasing from the shared database at once.

    python -m tests.accounts.lease_worker THREADS LEASES [STOP_FILE]

Each thread leases LEASES times; with STOP_FILE, it goes on (at least LEASES times) until that file exists.
"""
from __future__ import annotations

import json
import os
import sys
import threading


def main(threads: int, leases: int, stop_file: str = "") -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gempool_site.settings")
    import django

    django.setup()
    from django.db import connections

    from accounts.pool import lease_account

    errors: list[str] = []
    leased: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            done = 0
            while done < leases or (stop_file and not os.path.exists(stop_file)):
                account = lease_account()
                done += 1
                with lock:
                    leased.append(account.pk if account else -1)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on any
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    sys.stdout.write(json.dumps({"errors": errors, "leased": len(leased), "none": leased.count(-1)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:4])
