"""The upstream simulator for benchmarks: `python -m gemini_enterprise.simulator` with TCP_NODELAY ensured.

Before commit 1db8298 the simulator's handler wrote a response's headers and body (and each streamed
element) as separate small writes with Nagle's algorithm on; against the client's delayed ACK that stalled
about 40 ms per response on loopback, adding ~90 ms of pure simulator artefact to every completion. The
simulator now turns Nagle off itself; this wrapper makes sure of it on any commit, and `--nagle` turns it
back on to show the effect. Same arguments as the simulator's CLI otherwise.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gemini_enterprise.simulator import main  # noqa: E402
from gemini_enterprise.simulator.handler import SimHandler  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    nagle = "--nagle" in argv
    if nagle:
        argv.remove("--nagle")
    SimHandler.disable_nagle_algorithm = not nagle
    raise SystemExit(main(argv))
