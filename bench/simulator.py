"""The upstream simulator for benchmarks: `python -m gemini_enterprise.simulator` with TCP_NODELAY.

The simulator's handler writes a response's headers and body (and each streamed element) as separate
small writes with Nagle's algorithm on; against the client's delayed ACK that stalls about 40 ms per
response on loopback, which would add ~90 ms of pure simulator artefact to every completion and bury
gempool's own overhead. Real upstream servers do not stall like that, so the benchmark turns Nagle off
(`--nagle` keeps the simulator exactly as shipped). Same arguments as the simulator's CLI otherwise.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gemini_enterprise.simulator import main  # noqa: E402
from gemini_enterprise.simulator.handler import SimHandler  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--nagle" in argv:
        argv.remove("--nagle")
    else:
        SimHandler.disable_nagle_algorithm = True
    raise SystemExit(main(argv))
