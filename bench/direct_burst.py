"""N streams straight to the simulator at once: the upstream-direct side of side_by_side.py's burst.

    python bench/direct_burst.py --url http://127.0.0.1:9000 --accounts-file accounts.json --streams 1000

Run as its own process under gevent: each stream is a greenlet making the calls the gateway makes for a
stream (widgetCreateSession, then widgetStreamAssist read to its end) with gemini_enterprise's client and
JWTs minted beforehand, all started in the same instant. Prints one JSON object: the first text fragment's
time after each stream's start (p50, p99, max, in seconds), how many streams got one, and the errors.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.latency import DirectClient, percentile  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the simulator")
    parser.add_argument("--accounts-file", required=True, help="the accounts file the simulator was started with")
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--query", required=True)
    args = parser.parse_args(argv)
    accounts = json.loads(Path(args.accounts_file).read_text())["accounts"]
    direct = DirectClient(args.url, accounts, pool_size=args.streams)
    firsts: list[float] = []
    errors: Counter[str] = Counter()

    def one() -> None:
        try:
            firsts.append(direct.first_token(args.query))
        except Exception as error:  # noqa: BLE001 - counted by kind, like loadgen.py's
            errors[type(error).__name__] += 1

    try:
        gevent.joinall([gevent.spawn(one) for _ in range(args.streams)])
    finally:
        direct.close()
    ttft = {"p50": percentile(firsts, 50), "p99": percentile(firsts, 99), "max": max(firsts)} if firsts else {}
    sys.stdout.write(json.dumps({"streams": args.streams, "ok": len(firsts), "errors": dict(errors),
                                 "ttft": ttft}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
