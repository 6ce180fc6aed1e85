"""Key limits through gunicorn with two workers sharing Redis: counted as one, slots freed when clients leave."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.gateway_process import GatewayProcess, database_url
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.slow,
              pytest.mark.usefixtures("catalogue")]


def _redis_or_skip():
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any failure means Redis is not there
        pytest.skip(f"needs Redis on 127.0.0.1:6379 ({exc})")


@pytest.fixture(scope="module")
def redis_gateway(django_db_setup, django_db_blocker, simulator):
    """Two gunicorn workers on the test database, sharing this module's own prefix in Redis."""
    from django.conf import settings
    from django.db import connection

    client = _redis_or_skip()
    prefix = f"gempool-limits-{secrets.token_hex(6)}"
    process = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=simulator.url,
                             data_dir=str(settings.DATA_DIR), secret_key=settings.SECRET_KEY, extra_env={
                                 "GEMPOOL_WORKERS": "2", "REDIS_URL": "redis://127.0.0.1:6379/0",
                                 "GEMPOOL_CACHE_PREFIX": prefix, "GEMPOOL_KEEPALIVE_SECONDS": "0.3",
                                 "GEMPOOL_QUOTA_TIMEZONE": "UTC"}).start()
    try:
        yield process, client, prefix
    finally:
        process.stop()
        for name in client.scan_iter(f"{prefix}:*"):
            client.delete(name)


def _post(gateway, raw: str, content: str = "hello", *, sse: bool = False) -> requests.Response:
    return requests.post(f"{gateway.url}/v1/chat/completions", headers={"Authorization": f"Bearer {raw}"},
                         json={"model": "gemini-2.5-flash", "stream": sse,
                               "messages": [{"role": "user", "content": content}]}, timeout=60, stream=sse)


def test_two_workers_let_exactly_the_daily_request_budget_through(redis_gateway, pool_account):
    from accounts.services import api_key_create

    gateway, _, _ = redis_gateway
    for _ in range(3):
        pool_account()
    _, raw = api_key_create(name="budgeted", daily_request_budget=5)
    with ThreadPoolExecutor(max_workers=12) as threads:
        answers = list(threads.map(lambda _: _post(gateway, raw), range(14)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [429] * 9, [a.text[:200] for a in answers]
    refused = [answer for answer in answers if answer.status_code == 429]
    assert {answer.json()["error"]["code"] for answer in refused} == {"daily_request_budget_exceeded"}
    assert all(0 < int(answer.headers["Retry-After"]) <= 86400 for answer in refused)


def test_the_token_budget_refuses_the_request_after_the_one_that_used_it_up(redis_gateway, pool_account):
    from accounts.services import api_key_create

    gateway, _, _ = redis_gateway
    pool_account()
    _, raw = api_key_create(name="few tokens", daily_token_budget=5)
    first = _post(gateway, raw)
    assert first.status_code == 200 and first.json()["usage"]["total_tokens"] >= 5
    # The tokens are counted once the answer is out: the next request sees them shortly after.
    assert wait_until(lambda: _post(gateway, raw).status_code == 429, timeout=10) is not None
    refused = _post(gateway, raw)
    assert refused.json()["error"]["code"] == "daily_token_budget_exceeded" and "Retry-After" in refused.headers


def test_a_stream_holds_the_concurrency_slot_and_a_client_that_leaves_frees_it(redis_gateway, pool_account):
    from accounts.services import api_key_create

    gateway, client, prefix = redis_gateway
    pool_account()
    api_key, raw = api_key_create(name="one at a time", max_concurrent_requests=1)
    slots = f"{prefix}:*keylimit:slot:{api_key.pk}:*"
    held = _post(gateway, raw, "tell me a story [[sim:hang_mid_stream=15]]", sse=True)
    assert held.status_code == 200
    lines = held.iter_lines()  # kept: a dropped iterator closes the response, and the client would have left
    assert next(lines).startswith(b"data:")
    refused = _post(gateway, raw)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "concurrency_limit_exceeded"
    assert refused.headers["Retry-After"] == "1"
    assert len(list(client.scan_iter(slots))) == 1
    ttl = client.ttl(next(client.scan_iter(slots)))
    assert 0 < ttl <= 120  # a lease: a worker that died would not hold it for ever
    held.close()  # the client leaves mid-answer
    assert wait_until(lambda: not list(client.scan_iter(slots)), timeout=10) is not None
    assert _post(gateway, raw).status_code == 200
    assert wait_until(lambda: not list(client.scan_iter(slots)), timeout=10) is not None  # and a finished one
