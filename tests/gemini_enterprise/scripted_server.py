"""Loopback HTTP/1.1 servers for the tests of the upstream client's transport and body reading: one whose
answers are scripted per request (HTTPS with a TLS context; test_http11.py, test_body.py), and the listener
it and the other test servers (test_transport.py, test_http_internals.py) share."""
from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable

# A script answers one request: it gets the connection and the request's bytes (head and body) and returns
# False to end the connection afterwards.
Script = Callable[[socket.socket, bytes], bool | None]


class LoopbackServer:
    """A listener on 127.0.0.1 serving each connection on a thread of its own with `_answer` (subclasses set
    what `_answer` reads before calling this __init__: the accept thread starts here)."""

    def __init__(self) -> None:
        self.connections = 0
        self.closed = 0  # connections the server has closed
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = self._listener.getsockname()
        self.port = self.address[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            with conn:
                self._answer(conn)
        except (OSError, ssl.SSLError):
            return  # the client went away, or refused our certificate
        finally:
            self.closed += 1

    def _answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._listener.close()


class ScriptedServer(LoopbackServer):
    """Loopback HTTP/1.1 (HTTPS with `tls`): each request, on any connection, is answered by the next script."""

    def __init__(self, scripts: list[Script], tls: ssl.SSLContext | None = None) -> None:
        self.scripts = list(scripts)
        self.tls = tls
        self.requests: list[bytes] = []
        super().__init__()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/path"

    def _answer(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each script's writes go out as written
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
        with conn:
            while self.scripts:
                request = read_request(conn)
                if request is None:
                    return
                self.requests.append(request)
                if self.scripts.pop(0)(conn, request) is False:
                    return

    def close(self) -> None:
        self.scripts.clear()
        super().close()


def read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def send(*pieces: bytes, keep_open: bool = True) -> Script:
    """Send these bytes, a short pause between pieces (so they arrive separately)."""

    def script(conn: socket.socket, request: bytes) -> bool:
        for i, piece in enumerate(pieces):
            if i:
                time.sleep(0.01)
            conn.sendall(piece)
        return keep_open

    return script


def hang(seconds: float) -> Script:
    def script(conn: socket.socket, request: bytes) -> bool:
        time.sleep(seconds)
        return False

    return script


def close_unanswered(conn: socket.socket, request: bytes) -> bool:
    return False


def frame(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
