"""Auth: getoxsrf with the account's cookies, the locally minted HS256 JWT, and a single-flight JWT cache."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

import requests

from gemini_enterprise.errors import LoginRequired, Unavailable, UpstreamError, error_from_response
from gemini_enterprise.http11 import Http11Client, header_block
from gemini_enterprise.types import ClientConfig, Credentials

logger = logging.getLogger(__name__)

JWT_ISSUER = "https://business.gemini.google"
JWT_AUDIENCE = "https://biz-discoveryengine.googleapis.com"
XSSI_PREFIX = ")]}'"
REFRESH_LOCK_TIMEOUT = 30.0  # longest wait for another process's refresh before doing our own


@dataclass(frozen=True)
class XsrfGrant:
    """What getoxsrf returns: the HMAC key (base64url) and its id. Both are secrets for logging purposes."""

    xsrf_token: str
    key_id: str


# ---- JWT minting (HS256 with the key getoxsrf hands out) ------------------------------------


def kq_b64(text: str) -> str:
    """The browser's "kQ" encoding: code points <= 255 as one byte, others as two (low byte first), b64url."""
    out = bytearray()
    for char in text:
        value = ord(char)
        if value <= 0xFF:
            out.append(value)
        else:
            out.append(value & 0xFF)
            out.append((value >> 8) & 0xFF)
    return b64url(bytes(out))


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_jwt(xsrf_token: str, key_id: str, csesidx: str, now: int, *, lifetime: int = 300) -> str:
    """Mint the HS256 JWT exactly as the web app does (key order, compact JSON, kQ encoding)."""
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id}
    payload = {"iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "sub": f"csesidx/{csesidx}",
               "iat": int(now), "exp": int(now) + lifetime, "nbf": int(now)}
    signing_input = f"{kq_b64(_compact(header))}.{kq_b64(_compact(payload))}"
    signature = hmac.new(b64url_decode(xsrf_token), signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _compact(obj: dict) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ---- getoxsrf ---------------------------------------------------------------------------------


def cookie_header(creds: Credentials) -> str:
    """`__Secure-C_SES=..[; __Host-C_OSES=..]`: the second pair only when set."""
    parts = [f"__Secure-C_SES={creds.secure_c_ses}"]
    if creds.host_c_oses:
        parts.append(f"__Host-C_OSES={creds.host_c_oses}")
    return "; ".join(parts)


def getoxsrf(http: requests.Session | Http11Client, config: ClientConfig, creds: Credentials) -> XsrfGrant:
    """Call getoxsrf with the account's cookies (over either client); raise LoginRequired/RateLimited/
    Unavailable on failure."""
    url = f"{config.auth_url.rstrip('/')}/auth/getoxsrf"
    headers = {"accept": "*/*", "user-agent": creds.user_agent, "cookie": cookie_header(creds),
               "referer": f"{config.auth_url.rstrip('/')}/"}
    params = {"csesidx": creds.csesidx}
    timeout = (config.connect_timeout, config.read_timeout)
    started = time.monotonic()
    try:
        if isinstance(http, Http11Client):  # never follows redirects
            resp = http.request("GET", url, headers=header_block(headers), params=params, timeout=timeout)
        else:
            resp = http.get(url, params=params, headers=headers, allow_redirects=False, timeout=timeout,
                            verify=config.verify_tls)
    except requests.RequestException as exc:
        raise Unavailable(f"getoxsrf failed: {type(exc).__name__}") from None
    with resp:
        _log_call(creds, "getoxsrf", resp.status_code, started)
        if 300 <= resp.status_code < 400:
            # 302 to .../refreshcookies: the browser would renew cookies; we cannot, so a re-login is due.
            raise LoginRequired(f"getoxsrf redirected ({resp.status_code})", status=resp.status_code,
                                reason="REDIRECT")
        if resp.status_code != 200:
            raise error_from_response(resp.status_code, resp.content, headers=resp.headers, during_auth=True)
        return parse_getoxsrf_body(resp.text)


def parse_getoxsrf_body(text: str) -> XsrfGrant:
    """Strip the `)]}'` anti-XSSI prefix and read xsrfToken/keyId; missing keys mean dead cookies."""
    body = text.lstrip()
    body = body.removeprefix(XSSI_PREFIX)
    try:
        data = json.loads(body)
    except ValueError:
        raise LoginRequired("getoxsrf answered with a non-JSON body", status=200, reason="BAD_BODY") from None
    token = data.get("xsrfToken") if isinstance(data, dict) else None
    key_id = data.get("keyId") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token or not isinstance(key_id, str) or not key_id:
        raise LoginRequired("getoxsrf answered without xsrfToken/keyId", status=200, reason="MISSING_KEYS")
    return XsrfGrant(xsrf_token=token, key_id=key_id)


def _log_call(creds: Credentials, method: str, status: int, started: float) -> None:
    logger.info("upstream call", extra={"account": creds.key, "method": method, "status": status,
                                        "latency_ms": round((time.monotonic() - started) * 1000)})


# ---- token cache ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedJwt:
    """A minted JWT and the wall-clock time it was issued (its `iat`)."""

    token: str
    issued_at: float


class TokenStore(Protocol):
    """Where JWTs live. The Django side plugs in a shared cache so processes share one JWT per account."""

    def get(self, key: str) -> CachedJwt | None: ...

    def put(self, key: str, jwt: CachedJwt, ttl: float) -> None: ...

    def refresh_lock(self, key: str, timeout: float) -> AbstractContextManager[bool]:
        """Cross-process single flight; yields True if we own the refresh (False: waited in vain)."""
        ...


class MemoryTokenStore:
    """In-process TokenStore (the default)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[CachedJwt, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # protects the dicts only; never held across I/O

    def get(self, key: str) -> CachedJwt | None:
        with self._guard:
            item = self._items.get(key)
            if item is None or item[1] < time.monotonic():
                return None
            return item[0]

    def put(self, key: str, jwt: CachedJwt, ttl: float) -> None:
        with self._guard:
            self._items[key] = (jwt, time.monotonic() + ttl)

    @contextmanager
    def refresh_lock(self, key: str, timeout: float) -> Iterator[bool]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        owned = lock.acquire(timeout=timeout)
        try:
            yield owned
        finally:
            if owned:
                lock.release()


@dataclass
class _KeyState:
    lock: threading.Lock
    failed_at: float = 0.0  # monotonic time of the last failed refresh
    failure: UpstreamError | None = None


class TokenManager:
    """Hands out a valid JWT per account, refreshing it with at most one getoxsrf in flight per account."""

    def __init__(self, store: TokenStore, fetch: Callable[[Credentials], XsrfGrant], config: ClientConfig,
                 *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._fetch = fetch
        self._config = config
        self._clock = clock
        self._states: dict[str, _KeyState] = {}
        self._guard = threading.Lock()  # protects _states only

    def get(self, creds: Credentials, *, force: bool = False, reject: str | None = None) -> str:
        """A usable JWT. `force`: only accept one issued after this call began; `reject`: never that one."""
        asked_at = self._clock()
        cached = self._usable(creds.key, asked_at if force else None, reject)
        if cached:
            return cached
        state = self._state(creds.key)
        waiting_since = time.monotonic()
        with state.lock:  # per account: other accounts never wait on this
            if state.failure is not None and state.failed_at >= waiting_since:
                # The refresh we waited for failed moments ago; repeating it would only hammer getoxsrf.
                raise _copy_error(state.failure)
            cached = self._usable(creds.key, asked_at if force else None, reject)
            if cached:
                return cached
            with self._store.refresh_lock(creds.key, REFRESH_LOCK_TIMEOUT) as owned:
                if not owned:
                    logger.warning("jwt refresh lock wait timed out", extra={"account": creds.key})
                # Another process may have refreshed while we waited for the shared lock.
                cached = self._usable(creds.key, asked_at if force else None, reject)
                if cached:
                    return cached
                return self._refresh(creds, state)

    def refresh_now(self, creds: Credentials) -> str:
        """Unconditional getoxsrf (still one at a time per account); stores and returns the new JWT."""
        state = self._state(creds.key)
        with state.lock:
            return self._refresh(creds, state)

    def invalidate(self, creds: Credentials) -> None:
        """Make the cached JWT look stale (TokenStore has no delete), so the next get() refreshes."""
        cached = self._store.get(creds.key)
        if cached is not None:
            self._store.put(creds.key, CachedJwt(cached.token, 0.0), ttl=1.0)

    def _usable(self, key: str, issued_after: float | None, reject: str | None) -> str | None:
        cached = self._store.get(key)
        if cached is None or cached.token == reject:
            return None
        age = self._clock() - cached.issued_at
        if age >= self._config.jwt_refresh_after:
            return None
        if issued_after is not None and cached.issued_at < issued_after:
            return None
        return cached.token

    def _refresh(self, creds: Credentials, state: _KeyState) -> str:
        try:
            grant = self._fetch(creds)
        except UpstreamError as exc:
            state.failure, state.failed_at = exc, time.monotonic()
            raise
        state.failure = None
        issued_at = self._clock()
        token = mint_jwt(grant.xsrf_token, grant.key_id, creds.csesidx, int(issued_at),
                         lifetime=self._config.jwt_lifetime)
        ttl = max(1.0, self._config.jwt_lifetime - 5.0)
        # issued_at keeps sub-second precision so `force` can tell a refresh made after the ask.
        self._store.put(creds.key, CachedJwt(token, issued_at), ttl=ttl)
        logger.debug("jwt refreshed", extra={"account": creds.key})
        return token

    def _state(self, key: str) -> _KeyState:
        with self._guard:
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = _KeyState(threading.Lock())
            return state


def _copy_error(exc: UpstreamError) -> UpstreamError:
    """A fresh instance for another thread (sharing one exception object would share its traceback)."""
    return type(exc)(exc.message, status=exc.status, reason=exc.reason, retry_after=exc.retry_after)
