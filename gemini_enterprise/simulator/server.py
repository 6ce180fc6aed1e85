"""SimulatorServer: a real threaded HTTP server speaking the upstream protocol (tests, demos, benchmarks)."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
import urllib.request
from collections.abc import Iterable
from http.server import ThreadingHTTPServer
from typing import Any

from gemini_enterprise.simulator import login_control
from gemini_enterprise.simulator.handler import SimHandler
from gemini_enterprise.simulator.state import SimAccount, SimState

logger = logging.getLogger(__name__)

SHORT_PAUSE = 1.0  # seconds: pauses up to this long sleep plainly (see SimHTTPServer.pause)


class SimHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer sized for hundreds of concurrent streams."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # the listen backlog: 500+ clients may connect in the same instant
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sim: SimState, *, fragment_delay: float, fragments: int,
                 thought_fragments: int, jwt_skew: float) -> None:
        self.sim = sim
        self.fragment_delay = fragment_delay
        self.fragments = fragments
        self.thought_fragments = thought_fragments
        self.jwt_skew = jwt_skew
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, SimHandler)

    def pause(self, seconds: float) -> bool:
        """Sleep between stream elements; True if the server began stopping meanwhile (end the stream)."""
        if seconds > SHORT_PAUSE:
            return self.stopping.wait(seconds)
        # Hundreds of streams waking ten times a second on one shared Event contend for its lock (a futex
        # storm that costs more CPU than the streaming); a short pause needs no early wake-up: stop()
        # also cuts every connection, which ends the stream at its next write.
        time.sleep(seconds)
        return self.stopping.is_set()

    def track(self, conn: socket.socket, delta: int) -> None:
        """Count a connection opening (+1) or closing (-1)."""
        with self._conn_lock:
            if delta > 0:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
        self.sim.gauge("connections", delta)

    def drop_connections(self) -> None:
        """Cut every open connection (used on stop so no handler thread lingers on a keep-alive socket)."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer

    def reset(self, *, sessions: bool = False) -> None:
        """Clear faults and statistics; with `sessions`, also sessions, files and issued keys."""
        self.sim.clear_faults()
        self.sim.reset_stats()
        self.sim.logins.reset()
        if sessions:
            with self.sim.lock:
                self.sim.sessions.clear()
                self.sim.keys.clear()


class SimulatorServer:
    """Handle: `SimulatorServer(accounts=[...], port=0).start()`, then `.url`, `.stats()`, `.stop()`."""

    def __init__(self, accounts: Iterable[SimAccount] = (), *, host: str = "127.0.0.1", port: int = 0,
                 fragment_delay: float = 0.02, fragments: int = 5, thought_fragments: int = 2,
                 accept_any_account: bool = False, jwt_skew: float = 30.0, login_lifetime: float | None = None,
                 login_variant: str = "a", lmtp: str | None = None) -> None:
        self.state = SimState(list(accounts), accept_any_account=accept_any_account)
        self._login_defaults = {"lifetime": login_lifetime, "cookie_lifetime": None, "variant": login_variant,
                                "lmtp": lmtp, "mail_routes": {}, "max_wrong_codes": 5, "slow_mail_seconds": 5.0}
        self.configure_login(**self._login_defaults)
        self.httpd = SimHTTPServer((host, port), self.state, fragment_delay=fragment_delay,
                                   fragments=fragments, thought_fragments=thought_fragments,
                                   jwt_skew=jwt_skew)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (serves the auth host paths and the API host paths alike)."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimulatorServer:
        """Serve in a background daemon thread."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="gemini-simulator", daemon=True)
        self._thread.start()
        logger.info("listening on %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        logger.info("listening on %s", self.url)
        try:
            self.httpd.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop accepting, wake sleeping streams, cut open connections."""
        self.httpd.stopping.set()
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.drop_connections()
        self.httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- conveniences for tests and benchmarks ------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Same data as GET /_sim/stats."""
        return self.state.snapshot()

    def add_fault(self, fault: str, *, csesidx: str | None = None, count: int | None = None,
                  endpoint: str | None = None) -> int:
        """Same as POST /_sim/faults."""
        return self.state.add_fault(fault, csesidx=csesidx, count=count, endpoint=endpoint)

    def clear_faults(self, csesidx: str | None = None) -> None:
        """Same as DELETE /_sim/faults."""
        self.state.clear_faults(csesidx)

    def reset(self, *, sessions: bool = False) -> None:
        """Same as POST /_sim/reset."""
        self.httpd.reset(sessions=sessions)

    def add_account(self, account: SimAccount) -> None:
        """Accept one more account."""
        self.state.add_account(account)

    def configure_login(self, **settings: Any) -> dict[str, Any]:
        """Same as POST /_sim/login: `lifetime`, `cookie_lifetime`, `variant`, `lmtp`, `mail_routes`,
        `max_wrong_codes`, `slow_mail_seconds` (only those given change); returns the settings."""
        login_control.configure(self.state, **settings)
        return login_control.settings_json(self.state)

    def reset_login_settings(self) -> None:
        """Back to the login settings the server started with (a test's lifetime or LMTP must not leak).

        Without a starting lifetime, every seat's login is made endless again."""
        self.configure_login(**self._login_defaults)

    def mails(self, to: str | None = None) -> list[dict[str, Any]]:
        """Same as GET /_sim/login/mail: the mails sent (codes included), oldest first."""
        return self.state.logins.mails_json(to)

    def control(self, method: str, path: str, body: dict | None = None) -> Any:
        """Call the control API over HTTP (handy from another process's point of view)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read() or b"null")
