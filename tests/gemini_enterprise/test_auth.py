"""getoxsrf, JWT minting and the single-flight token cache."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import responses

from gemini_enterprise.auth import (
    CachedJwt,
    MemoryTokenStore,
    TokenManager,
    XsrfGrant,
    getoxsrf,
    kq_b64,
    mint_jwt,
)
from gemini_enterprise.errors import LoginRequired, RateLimited, Unavailable
from gemini_enterprise.simulator.jwtcheck import JwtRejected, verify_jwt
from gemini_enterprise.types import ClientConfig, Credentials

XSRF = "ZXhhbXBsZS1obWFjLWtleS0wMTIzNDU2Nzg5IQ"
KID = "AYrB4dq0ExampleKid"
NOW = 1735689600
EXPECTED = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IkFZckI0ZHEwRXhhbXBsZUtpZCJ9."
    "eyJpc3MiOiJodHRwczovL2J1c2luZXNzLmdlbWluaS5nb29nbGUiLCJhdWQiOiJodHRwczovL2Jpei1kaXNjb3ZlcnllbmdpbmUu"
    "Z29vZ2xlYXBpcy5jb20iLCJzdWIiOiJjc2VzaWR4LzEyMzQ1Njc4OTAiLCJpYXQiOjE3MzU2ODk2MDAsImV4cCI6MTczNTY4OTkw"
    "MCwibmJmIjoxNzM1Njg5NjAwfQ.-y7Y_WxodKzSMhY0t3WPF0Pz_qeb0535z82YYHwquUM"
)
AUTH = "https://auth.example.test"
CONFIG = ClientConfig(auth_url=AUTH, api_url="https://api.example.test")
CREDS = Credentials(
    key="k1", team_id="t", csesidx="1234567890", secure_c_ses="SES-SECRET", host_c_oses="OSES-SECRET"
)


def test_the_minted_jwt_matches_the_worked_example_byte_for_byte() -> None:
    assert mint_jwt(XSRF, KID, "1234567890", NOW) == EXPECTED


def test_kq_encoding_is_latin1_for_low_code_points_and_two_bytes_above() -> None:
    assert kq_b64("é") == "6Q"
    assert kq_b64("ĀA") == "AAFB"  # U+0100 -> 00 01, then 'A'


def _sign(key: bytes, header: bytes, payload: bytes) -> str:
    import base64
    import hashlib
    import hmac

    enc = [base64.urlsafe_b64encode(part).rstrip(b"=").decode() for part in (header, payload)]
    signing = ".".join(enc)
    sig = base64.urlsafe_b64encode(hmac.new(key, signing.encode(), hashlib.sha256).digest()).rstrip(b"=")
    return f"{signing}.{sig.decode()}"


def test_the_simulator_verifies_both_key_orders() -> None:
    import base64

    key = base64.urlsafe_b64decode(XSRF + "==")
    sorted_token = _sign(
        key,
        b'{"alg":"HS256","kid":"AYrB4dq0ExampleKid","typ":"JWT"}',
        b'{"aud":"https://biz-discoveryengine.googleapis.com","exp":1735689900,"iat":1735689600,'
        b'"iss":"https://business.gemini.google","nbf":1735689600,"sub":"csesidx/1234567890"}',
    )
    assert sorted_token.endswith(".uSTQo7j6X2lYEiBIm0AKr2J-dYO6_Mp_RfZC1p_3OgU")  # sorted keys, as Go clients send
    keys = {KID: (key, "1234567890")}
    assert verify_jwt(sorted_token, keys, NOW + 10) == "1234567890"
    assert verify_jwt(EXPECTED, keys, NOW + 10) == "1234567890"
    spaced = _sign(
        key,
        b'{"typ": "JWT", "kid": "AYrB4dq0ExampleKid", "alg": "HS256"}',
        b'{"sub": "csesidx/1234567890", "nbf": 1735689600, "exp": 1735689900, '
        b'"iss": "https://business.gemini.google", "aud": "https://biz-discoveryengine.googleapis.com"}',
    )
    assert verify_jwt(spaced, keys, NOW + 10) == "1234567890"


@pytest.mark.parametrize("tamper", ["signature", "payload", "expired", "wrong_key"])
def test_the_simulator_refuses_a_bad_jwt(tamper: str) -> None:
    import base64

    key = base64.urlsafe_b64decode(XSRF + "==")
    keys = {KID: (key, "1234567890")}
    token, now = EXPECTED, NOW + 10
    if tamper == "signature":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif tamper == "payload":
        head, payload, sig = token.split(".")
        token = f"{head}.{mint_jwt(XSRF, KID, '1234567891', NOW).split('.')[1]}.{sig}"
    elif tamper == "expired":
        now = NOW + 300 + 120
    else:
        keys = {KID: (b"another-key", "1234567890")}
    with pytest.raises(JwtRejected):
        verify_jwt(token, keys, now)


# ---- getoxsrf --------------------------------------------------------------------------------


@responses.activate
def test_getoxsrf_strips_the_xssi_prefix_and_sends_both_cookies() -> None:
    rsp = responses.get(f"{AUTH}/auth/getoxsrf", body=')]}\'\n{"xsrfToken": "abc", "keyId": "kid1"}')
    grant = getoxsrf(requests.Session(), CONFIG, CREDS)
    assert grant == XsrfGrant("abc", "kid1")
    request = rsp.calls[0].request
    assert "csesidx=1234567890" in request.url
    assert request.headers["cookie"] == "__Secure-C_SES=SES-SECRET; __Host-C_OSES=OSES-SECRET"


@responses.activate
def test_getoxsrf_sends_c_oses_only_when_set() -> None:
    rsp = responses.get(f"{AUTH}/auth/getoxsrf", body=')]}\'{"xsrfToken": "abc", "keyId": "kid1"}')
    creds = Credentials(key="k", team_id="t", csesidx="1", secure_c_ses="SES")
    getoxsrf(requests.Session(), CONFIG, creds)
    assert rsp.calls[0].request.headers["cookie"] == "__Secure-C_SES=SES"


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (302, "", {"Location": "https://auth.example.test/refreshcookies"}, LoginRequired),
        (401, "", {}, LoginRequired),
        (403, "", {}, LoginRequired),
        (200, ")]}'\n{}", {}, LoginRequired),
        (200, ')]}\'\n{"keyId": "k"}', {}, LoginRequired),
        (200, "<html>login</html>", {}, LoginRequired),
        (429, "", {}, RateLimited),
        (500, "", {}, Unavailable),
        (503, "", {}, Unavailable),
    ],
)
@responses.activate
def test_getoxsrf_failures_are_classified_without_secrets(status, body, headers, expected) -> None:
    responses.get(f"{AUTH}/auth/getoxsrf", status=status, body=body, headers=headers)
    with pytest.raises(expected) as info:
        getoxsrf(requests.Session(), CONFIG, CREDS)
    assert "SECRET" not in str(info.value)


@responses.activate
def test_getoxsrf_does_not_follow_the_refreshcookies_redirect() -> None:
    responses.get(f"{AUTH}/auth/getoxsrf", status=302, headers={"Location": f"{AUTH}/refreshcookies"})
    target = responses.get(f"{AUTH}/refreshcookies", body="")
    with pytest.raises(LoginRequired):
        getoxsrf(requests.Session(), CONFIG, CREDS)
    assert target.call_count == 0


@responses.activate
def test_a_timeout_is_unavailable() -> None:
    responses.get(f"{AUTH}/auth/getoxsrf", body=requests.exceptions.ConnectTimeout("slow"))
    with pytest.raises(Unavailable):
        getoxsrf(requests.Session(), CONFIG, CREDS)


# ---- token cache ------------------------------------------------------------------------------


class FakeFetch:
    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.delay = delay
        self.error = error
        self.lock = threading.Lock()

    def __call__(self, creds: Credentials) -> XsrfGrant:
        with self.lock:
            self.calls.append(creds.key)
        time.sleep(self.delay)  # a slow getoxsrf: the other threads pile up behind this one
        if self.error is not None:
            raise self.error
        return XsrfGrant(XSRF, f"kid-{len(self.calls)}")


def run_threads(n: int, target) -> list:
    results: list = [None] * n
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = target()
        except Exception as exc:  # noqa: BLE001 - the test inspects whatever came out
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_the_jwt_is_refreshed_once_for_50_threads() -> None:
    fetch = FakeFetch(delay=0.1)
    manager = TokenManager(MemoryTokenStore(), fetch, CONFIG)
    tokens = run_threads(50, lambda: manager.get(CREDS))
    assert fetch.calls == ["k1"]
    assert len(set(tokens)) == 1


def test_a_failed_refresh_is_shared_with_the_threads_waiting_for_it() -> None:
    fetch = FakeFetch(delay=0.1, error=LoginRequired("dead cookies", status=401))
    manager = TokenManager(MemoryTokenStore(), fetch, CONFIG)
    results = run_threads(20, lambda: manager.get(CREDS))
    assert all(isinstance(r, LoginRequired) for r in results)
    assert len(fetch.calls) == 1


def test_accounts_do_not_wait_on_each_other() -> None:
    slow_fetch_started = threading.Event()
    release_slow_fetch = threading.Event()

    def fetch(creds: Credentials) -> XsrfGrant:
        if creds.key == "slow":
            slow_fetch_started.set()
            release_slow_fetch.wait(10)  # a getoxsrf that hangs until the test lets it answer
        return XsrfGrant(XSRF, "kid")

    manager = TokenManager(MemoryTokenStore(), fetch, CONFIG)
    slow = Credentials(key="slow", team_id="t", csesidx="1", secure_c_ses="s")
    thread = threading.Thread(target=manager.get, args=(slow,))
    thread.start()
    try:
        assert slow_fetch_started.wait(5), "the slow account's refresh never started"
        fast = threading.Thread(target=manager.get, args=(CREDS,))
        fast.start()
        fast.join(5)
        assert not fast.is_alive(), "an account waited for another account's refresh"
    finally:
        release_slow_fetch.set()
        thread.join(5)


def test_the_jwt_is_renewed_after_the_refresh_margin() -> None:
    now = [1_000_000.0]
    fetch = FakeFetch()
    manager = TokenManager(
        MemoryTokenStore(), fetch, ClientConfig(jwt_refresh_after=240), clock=lambda: now[0]
    )
    first = manager.get(CREDS)
    now[0] += 239
    assert manager.get(CREDS) == first
    now[0] += 2
    assert manager.get(CREDS) != first
    assert len(fetch.calls) == 2


def test_reject_and_force_never_return_the_refused_token() -> None:
    fetch = FakeFetch()
    manager = TokenManager(MemoryTokenStore(), fetch, CONFIG)
    first = manager.get(CREDS)
    assert manager.get(CREDS, reject=first) != first
    second = manager.get(CREDS)
    assert manager.get(CREDS, force=True) != second
    assert len(fetch.calls) == 3


def test_the_token_manager_rechecks_the_store_after_taking_the_lock() -> None:
    """Another process refreshed while we waited: the shared store's token is used, no getoxsrf."""
    store = MemoryTokenStore()
    fetch = FakeFetch()
    manager = TokenManager(store, fetch, CONFIG)

    class Racing(MemoryTokenStore):
        def refresh_lock(self, key: str, timeout: float):
            store.put(key, CachedJwt("from-another-process", time.time()), ttl=100)
            return store.refresh_lock(key, timeout)

        def get(self, key: str):
            return store.get(key)

    manager = TokenManager(Racing(), fetch, CONFIG)
    assert manager.get(CREDS) == "from-another-process"
    assert fetch.calls == []
