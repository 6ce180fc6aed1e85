"""The upstream simulator for benchmarks: `python -m gemini_enterprise.simulator` under gevent, Nagle off.

*Under gevent*: the simulator stands in for Google's servers, which in production are not on the gateway's
box; here it shares the gateway's two cores, so what it burns is taken from the gateway being measured.
As shipped it serves each connection on an OS thread, and 500+ threads sleeping and waking ten times a
second spent a quarter more CPU than the same server with gevent's monkey-patching (greenlets, one event
loop): 8.8-9.7 vs 7.0-7.7 ms per 5-second stream. Same code either way; `--threads` runs it as shipped.

*TCP_NODELAY*: before commit 1db8298 the handler wrote a response's headers and body (and each streamed
element) as separate small writes with Nagle's algorithm on; against the client's delayed ACK that stalled
about 40 ms per response on loopback. The simulator now turns Nagle off itself; this wrapper makes sure of
it on any commit, and `--nagle` turns it back on to show the effect.

*`--typical-writes`*: Nagle on, and each HTTP chunk written as three small writes (size line, data, CRLF),
the way many HTTP servers write a chunked body. A real upstream is not ours to tune, so the gateway must
cope with it: this is the upstream the first-token probe (bench/ttft_probe.py) measures against.

Same arguments as the simulator's CLI otherwise.
"""
import sys

THREADS = "--threads" in sys.argv
if not THREADS:
    from gevent import monkey

    monkey.patch_all()  # before anything imports socket, threading or time

from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gemini_enterprise.simulator import main  # noqa: E402
from gemini_enterprise.simulator.handler import SimHandler  # noqa: E402

OWN_FLAGS = ("--threads", "--nagle", "--typical-writes")


def write_chunk_in_pieces(self: SimHandler, data: bytes) -> None:
    """One HTTP chunk as three writes, as a server that writes size line, data and CRLF separately does."""
    if data:
        self.wfile.write(b"%x\r\n" % len(data))
        self.wfile.write(data)
        self.wfile.write(b"\r\n")


if __name__ == "__main__":
    argv = [arg for arg in sys.argv[1:] if arg not in OWN_FLAGS]
    typical = "--typical-writes" in sys.argv
    SimHandler.disable_nagle_algorithm = "--nagle" not in sys.argv and not typical
    if typical:
        SimHandler.write_chunk = write_chunk_in_pieces
    raise SystemExit(main(argv))
