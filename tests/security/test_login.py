"""Sign-in attacks: every login path throttled alike, look-alike user names, lock-outs, hashing on the loop."""
from __future__ import annotations

import re
import statistics
import threading
import time

import pytest
import requests
from django.core.cache import cache
from django.test import Client

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-42"  # the staff_user fixture's


@pytest.fixture(autouse=True)
def _fresh_counts(throttle_window_stands_still):
    cache.clear()
    yield
    cache.clear()


def _post(path: str, address: str, username: str, password: str):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


def _signed_in(response) -> bool:
    return response.status_code == 302


def test_admin_login_failures_are_throttled_like_the_console(staff_user, settings):
    settings.GEMPOOL_LOGIN_RATE = (3, 60)
    statuses = [_post("/admin/login/", "10.0.0.1", "operator", "wrong").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = _post("/admin/login/", "10.0.0.1", "operator", PASSWORD)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many failed sign-ins" in refused.content.decode()
    # The same count guards the console's form: one budget per address, whichever form it spends it on.
    assert _post("/login/", "10.0.0.1", "operator", PASSWORD).status_code == 429


def test_console_failures_count_on_the_admin_login_too(staff_user, settings):
    settings.GEMPOOL_LOGIN_RATE = (2, 60)
    for _ in range(2):
        assert _post("/login/", "10.0.0.2", "someone", "wrong").status_code == 200
    assert _post("/admin/login/", "10.0.0.2", "operator", PASSWORD).status_code == 429


def test_an_attackers_failures_from_other_addresses_do_not_lock_the_operator_out(staff_user, settings):
    settings.GEMPOOL_LOGIN_RATE = (3, 60)
    settings.GEMPOOL_LOGIN_USER_BACKSTOP = (5, 86400)
    for attacker in range(6):
        for _ in range(4):
            _post("/login/", f"203.0.113.{attacker}", "operator", "guess")
    # Every attacker address is refused, even with the right password...
    assert _post("/login/", "203.0.113.1", "operator", PASSWORD).status_code == 429
    # ...but the operator's own address, which has not failed, signs in at once, on either form.
    assert _signed_in(_post("/login/", "198.51.100.7", "operator", PASSWORD))
    assert _signed_in(_post("/admin/login/", "198.51.100.8", "operator", PASSWORD))


def test_past_the_backstop_each_new_address_gets_only_a_few_tries(staff_user, settings):
    from gempool_site.login_throttle import BACKSTOP_TRIES_PER_ADDRESS

    settings.GEMPOOL_LOGIN_RATE = (10, 60)
    settings.GEMPOOL_LOGIN_USER_BACKSTOP = (6, 86400)
    for attacker in range(2):
        for _ in range(3):
            _post("/login/", f"203.0.113.{attacker}", "operator", "guess")
    fresh = [_post("/login/", "203.0.113.99", "operator", "guess").status_code for _ in range(5)]
    assert fresh == [200] * BACKSTOP_TRIES_PER_ADDRESS + [429] * (5 - BACKSTOP_TRIES_PER_ADDRESS)


def test_look_alike_user_names_count_as_the_same_user(staff_user, settings):
    settings.GEMPOOL_LOGIN_RATE = (100, 60)
    settings.GEMPOOL_LOGIN_USER_BACKSTOP = (4, 86400)
    # Django signs all of these in as "operator" (NFKC), so they must share one count.
    look_alikes = ["operator", "OPERATOR", "\uff4f\uff50\uff45\uff52\uff41\uff54\uff4f\uff52",
                   "\uff2f\uff30\uff25\uff32\uff21\uff34\uff2f\uff32"]
    for address, name in enumerate(look_alikes):
        for _ in range(3):
            assert _post("/login/", f"203.0.113.{address}", name, "guess").status_code == 200
    assert _post("/login/", "203.0.113.2", "operator", PASSWORD).status_code == 429
    assert _post("/login/", "203.0.113.3", "Operator", PASSWORD).status_code == 429


def test_a_forwarded_address_is_believed_only_from_a_trusted_proxy(staff_user, settings):
    settings.GEMPOOL_LOGIN_RATE = (1, 60)
    settings.GEMPOOL_FORWARDED_ALLOW_IPS = ["172.16.0.0/12"]
    proxy = Client(REMOTE_ADDR="172.18.0.5")
    proxy.post("/login/", {"username": "x", "password": "y"}, HTTP_X_FORWARDED_FOR="203.0.113.50")
    # The proxy itself is not blocked (only the client behind it)...
    assert _signed_in(proxy.post("/login/", {"username": "operator", "password": PASSWORD},
                                 HTTP_X_FORWARDED_FOR="198.51.100.1"))
    assert proxy.post("/login/", {"username": "operator", "password": PASSWORD},
                      HTTP_X_FORWARDED_FOR="203.0.113.50").status_code == 429
    # ...and a client that is not a trusted proxy cannot pick its address.
    direct = Client(REMOTE_ADDR="203.0.113.60")
    direct.post("/login/", {"username": "x", "password": "y"}, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert direct.post("/login/", {"username": "operator", "password": PASSWORD},
                       HTTP_X_FORWARDED_FOR="198.51.100.3").status_code == 429


# ---- password hashing and the event loop ---------------------------------------------------------


def _login_attempt(base: str, username: str) -> float:
    session = requests.Session()
    page = session.get(base + "/admin/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    started = time.monotonic()
    response = session.post(base + "/admin/login/", data={"username": username, "password": "wrong-password",
                                                          "csrfmiddlewaretoken": token}, timeout=60)
    assert response.status_code == 200, response.status_code
    return time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_health_stays_fast_while_passwords_are_hashed(simulator, tmp_path, django_db_blocker):
    """A gevent worker serves everything on one loop; PBKDF2 on it would stall /health for whole seconds."""
    from django.conf import settings as django_settings
    from django.db import connection

    from tests.gateway_process import GatewayProcess, database_url

    gateway = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=simulator.url,
                             data_dir=str(django_settings.DATA_DIR), secret_key=django_settings.SECRET_KEY,
                             extra_env={"GEMPOOL_LOGIN_RATE": "100000/min",
                                        "GEMPOOL_LOGIN_USER_BACKSTOP": "100000/day"}).start()
    try:
        one_hash = min(_login_attempt(gateway.url, "nobody-a") for _ in range(2))
        stop = threading.Event()

        def attack(n: int) -> None:
            while not stop.is_set():
                _login_attempt(gateway.url, f"nobody-{n}")

        attackers = [threading.Thread(target=attack, args=(n,), daemon=True) for n in range(4)]
        for thread in attackers:
            thread.start()
        try:
            latencies = []
            for _ in range(12):
                started = time.monotonic()
                assert requests.get(gateway.url + "/health", timeout=60).status_code == 200
                latencies.append(time.monotonic() - started)
        finally:
            stop.set()
            for thread in attackers:
                thread.join(timeout=60)
    finally:
        gateway.stop()
    # On the loop, each probe would wait for the hashes queued ahead of it (several times one_hash).
    assert statistics.median(latencies) < one_hash / 3, (one_hash, latencies)
