"""HTTP request handler: the auth host, the widget API host and the /_sim control API on one port."""
from __future__ import annotations

import json
import logging
import time
import urllib.parse
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from gemini_enterprise.simulator import api, login_routes
from gemini_enterprise.simulator.httperrors import HttpFault, fault_error
from gemini_enterprise.simulator.jwtcheck import JwtRejected, verify_jwt
from gemini_enterprise.simulator.state import FaultRule, SimAccount

if TYPE_CHECKING:
    from gemini_enterprise.simulator.server import SimHTTPServer

logger = logging.getLogger(__name__)

API_PREFIX = "/v1alpha/locations/global/"
VERB_KEYS = {
    "widgetCreateSession": ("createSession", "createSessionRequest"),
    "widgetStreamAssist": ("streamAssist", "streamAssistRequest"),
    "widgetAddContextFile": ("addContextFile", "addContextFileRequest"),
    "widgetListSessionFileMetadata": ("listSessionFileMetadata", "listSessionFileMetadataRequest"),
}
EXPIRED_SIGN_IN = b')]}\'\n{"message":"Session has expired.","status":"EXPIRED_SIGN_IN"}'


class SimHandler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive, chunked streaming."""

    protocol_version = "HTTP/1.1"
    server_version = "GemSim/1.0"
    disable_nagle_algorithm = True  # small streamed elements must leave at once, as upstream's do
    timeout = 120  # idle keep-alive connections must not pin a thread forever
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, +1)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, -1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    # ---- routing -------------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    def _dispatch(self, verb: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        self.query = dict(urllib.parse.parse_qsl(url.query))
        self.body = self._read_body()
        try:
            if url.path.startswith("/_sim/"):
                api.control(self, verb, url.path)
            elif url.path == "/auth/getoxsrf" and verb == "GET":
                self._getoxsrf()
            elif url.path.startswith(API_PREFIX) and verb == "POST":
                self._widget(url.path[len(API_PREFIX):])
            elif url.path.endswith(":downloadFile") and verb == "GET":
                self._download(url.path)
            elif login_routes.handles(url.path):
                login_routes.route(self, verb, url.path)
            else:
                raise HttpFault(404, f"No route for {verb} {url.path}")
        except HttpFault as fault:
            self.send_json(fault.code, fault.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ---- auth host -----------------------------------------------------------------------------

    def _getoxsrf(self) -> None:
        sim = self.server.sim
        csesidx = self.query.get("csesidx", "")
        sim.count("getoxsrf", csesidx)
        rule = sim.take_fault("getoxsrf", csesidx)
        if rule is not None and rule.fault == "slow_first_byte":
            self.server.stopping.wait(_seconds(rule.arg))
            rule = None
        if rule is not None:
            self._getoxsrf_fault(rule)
            return
        cookies = _cookies(self.headers.get("Cookie", ""))
        account = sim.account_for_login(csesidx, cookies.get("__Secure-C_SES", ""),
                                        cookies.get("__Host-C_OSES", ""))
        if account is None:
            # Upstream's answer for a login that is over, replaced by a newer one, or never was (fact sheet §1).
            self.send_bytes(401, EXPIRED_SIGN_IN, "application/json; charset=utf-8")
            return
        if not account.available:
            raise HttpFault(403, "Access Restricted.")
        token, key_id = sim.issue_key(csesidx)
        self.send_bytes(200, (")]}'\n" + json.dumps({"xsrfToken": token, "keyId": key_id})).encode(),
                        "application/json; charset=utf-8")

    def _getoxsrf_fault(self, rule: FaultRule) -> None:
        if rule.fault in ("302", "refreshcookies"):
            location = f"/auth/refreshcookies?csesidx={self.query.get('csesidx', '')}"
            self.send_bytes(302, b"", "text/html", extra={"Location": location})
        elif rule.fault == "missing_keys":
            self.send_bytes(200, b")]}'\n{}", "application/json; charset=utf-8")
        else:
            raise fault_error(rule.fault, rule.arg) or HttpFault(500, "Simulated failure.")

    # ---- API host ------------------------------------------------------------------------------

    def authenticate(self, endpoint: str) -> SimAccount:
        """Verify the Bearer JWT; count the call; return the caller's account."""
        sim = self.server.sim
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            sim.count(endpoint, None)
            raise HttpFault(401, "Request is missing required authentication credential.")
        try:
            with sim.lock:
                keys = dict(sim.keys)
            csesidx = verify_jwt(auth[7:].strip(), keys, time.time(), skew=self.server.jwt_skew)
        except JwtRejected as exc:
            sim.count(endpoint, None)
            with sim.lock:
                sim.counters["jwt_rejected"] += 1
            logger.info("jwt rejected: %s", exc)
            raise HttpFault(401, "Request had invalid authentication credentials.") from None
        sim.count(endpoint, csesidx)
        account = sim.accounts[csesidx]
        if account.login_expired(time.time()):
            # The keys getoxsrf handed out die with the login, so an expired login shows on the next call.
            raise HttpFault(401, "Request had invalid authentication credentials.")
        return account

    def _widget(self, method: str) -> None:
        if method not in VERB_KEYS:
            raise HttpFault(404, f"Method {method} not found.")
        endpoint, request_key = VERB_KEYS[method]
        account = self.authenticate(endpoint)
        try:
            body = json.loads(self.body or b"{}")
        except ValueError:
            raise HttpFault(400, "Invalid JSON payload received.") from None
        if not isinstance(body, dict) or not isinstance(body.get(request_key), dict):
            raise HttpFault(400, f"Invalid request: {request_key} is required.")
        if account.team_id is not None and body.get("configId") != account.team_id:
            raise HttpFault(403, "configId does not belong to this user (check team_id).")
        if (body.get("additionalParams") or {}).get("token") != "-":
            raise HttpFault(400, "additionalParams.token must be '-'.")
        rule = self.server.sim.take_fault(endpoint, account.csesidx)
        self.apply_generic_fault(rule)
        handler = getattr(api, f"widget_{endpoint}")
        handler(self, account, body[request_key], rule)

    def apply_generic_fault(self, rule: FaultRule | None) -> None:
        """Raise or wait for an injected fault that acts before any answer."""
        if rule is None:
            return
        if rule.fault == "slow_first_byte":
            self.server.stopping.wait(_seconds(rule.arg))
            return
        error = fault_error(rule.fault, rule.arg)
        if error is not None:
            raise error

    def _download(self, path: str) -> None:
        account = self.authenticate("downloadFile")
        rule = self.server.sim.take_fault("downloadFile", account.csesidx)
        self.apply_generic_fault(rule)
        api.download(self, account, path, base64_text=rule is not None and rule.fault == "base64")

    # ---- responses -----------------------------------------------------------------------------

    def send_json(self, code: int, data: Any) -> None:
        """A complete JSON response."""
        self.send_bytes(code, json.dumps(data).encode("utf-8"), "application/json; charset=UTF-8")

    def send_bytes(self, code: int, data: bytes, content_type: str, *,
                   extra: dict[str, str] | None = None) -> None:
        """A complete response with a Content-Length."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def start_chunked(self) -> None:
        """Headers of a streamed (chunked) 200 response."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """One HTTP chunk, sent at once (wfile is unbuffered)."""
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self) -> None:
        """The terminating zero-length chunk."""
        self.wfile.write(b"0\r\n\r\n")


def _cookies(header: str) -> dict[str, str]:
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _seconds(value: str | None, default: float = 5.0) -> float:
    try:
        return max(0.0, float(value)) if value else default
    except ValueError:
        return default
