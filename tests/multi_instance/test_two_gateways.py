"""Two gempool processes on one PostgreSQL + Redis behave as one pool.

Each gateway has its own data directory, as two machines would: everything they share goes through
the database and the cache.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter

import openai
import pytest

from tests.gateway_process import ROOT, GatewayProcess

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
PG = "postgres://postgres@127.0.0.1:5432/"
HOT_ROWS_SECONDS = 1.0


def _services_or_skip() -> None:
    try:
        import psycopg
        import redis

        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3).close()
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means the services are not there
        pytest.skip(f"needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 ({exc})")


def _manage(env: dict, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A throwaway Postgres database, a Redis prefix, the simulator, and two gateways on separate data dirs."""
    _services_or_skip()
    import psycopg

    from gemini_enterprise.simulator import SimAccount, SimulatorServer

    name = f"gempool_mi_{secrets.token_hex(4)}"
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    seats = [{"team_id": f"team-{n}", "secure_c_ses": f"ses-{n}", "host_c_oses": "", "csesidx": str(5000 + n),
              "available": True} for n in range(4)]
    sim = SimulatorServer([SimAccount(csesidx=s["csesidx"], secure_c_ses=s["secure_c_ses"], team_id=s["team_id"])
                           for s in seats], port=0, fragment_delay=0.001, fragments=3).start()
    common = {**os.environ, "DATABASE_URL": PG + name, "REDIS_URL": "redis://127.0.0.1:6379/0",
              "GEMPOOL_CACHE_PREFIX": name, "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
              "DJANGO_SETTINGS_MODULE": "gempool_site.settings"}
    common.pop("GEMPOOL_DATA_DIR", None)
    setup_env = {**common, "GEMPOOL_DATA_DIR": str(tmp_path_factory.mktemp("setup"))}
    _manage(setup_env, "migrate", "--noinput")
    _manage(setup_env, "importconfig", "-", stdin=json.dumps({"accounts": seats, "models": []}))
    key = _manage(setup_env, "createapikey", "cluster").strip().splitlines()[-1]
    admin_key = _manage(setup_env, "createapikey", "operator", "--admin").strip().splitlines()[-1]
    gateways = []
    try:
        for index in range(2):
            extra = {k: v for k, v in common.items() if k.startswith(("REDIS_", "GEMPOOL_CACHE"))}
            extra["GEMPOOL_HOT_ROWS_SECONDS"] = str(HOT_ROWS_SECONDS)  # the production default, not the tests' 0
            gateways.append(GatewayProcess(database=PG + name, upstream_url=sim.url,
                                           data_dir=str(tmp_path_factory.mktemp(f"gw{index}")),
                                           secret_key=common["DJANGO_SECRET_KEY"], extra_env=extra).start())
        yield {"gateways": gateways, "sim": sim, "key": key, "admin_key": admin_key, "seats": seats,
               "setup_env": setup_env}
    finally:
        for gateway in gateways:
            gateway.stop()
        sim.stop()
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _client(cluster, index: int) -> openai.OpenAI:
    return openai.OpenAI(api_key=cluster["key"], base_url=cluster["gateways"][index].url + "/v1", max_retries=0,
                         timeout=30)


def _ask(client: openai.OpenAI, text: str = "hello", **extra) -> str:
    completion = client.chat.completions.create(model="gemini-2.5-flash",
                                                messages=[{"role": "user", "content": text}], **extra)
    return completion.choices[0].message.content


def test_rotation_stays_fair_across_both_gateways(cluster):
    sim = cluster["sim"]
    sim.reset()
    clients = [_client(cluster, 0), _client(cluster, 1)]
    for n in range(16):
        _ask(clients[n % 2])
    streams = Counter({csesidx: calls.get("streamAssist", 0) for csesidx, calls in sim.stats()["by_account"].items()})
    assert sorted(streams.values()) == [4, 4, 4, 4], streams


def test_each_account_mints_its_jwt_once_for_both_gateways(cluster):
    sim = cluster["sim"]
    clients = [_client(cluster, 0), _client(cluster, 1)]
    for n in range(8):
        _ask(clients[n % 2])
    getoxsrf = {csesidx: calls.get("getoxsrf", 0) for csesidx, calls in sim.stats()["by_account"].items()}
    assert getoxsrf and all(count == 1 for count in getoxsrf.values()), getoxsrf


def test_a_cooldown_set_through_one_gateway_is_honoured_by_the_other(cluster):
    sim = cluster["sim"]
    victim = cluster["seats"][0]["csesidx"]
    sim.add_fault("429_before", csesidx=victim, count=1)
    clients = [_client(cluster, 0), _client(cluster, 1)]
    for _ in range(4):  # through gateway 0 until the victim has been hit once
        _ask(clients[0])
    assert sim.stats()["faults_injected"] >= 1, "the victim was leased and rate-limited once"
    before = sim.stats()["by_account"][victim].get("streamAssist", 0)
    for _ in range(8):
        _ask(clients[1])
    assert sim.stats()["by_account"][victim].get("streamAssist", 0) == before


def test_a_file_uploaded_through_one_gateway_works_through_the_other(cluster):
    uploaded = _client(cluster, 0).files.create(file=("plan.txt", b"shared across machines", "text/plain"),
                                                purpose="assistants")
    second = _client(cluster, 1)
    assert second.files.retrieve(uploaded.id).bytes == 22
    assert second.files.content(uploaded.id).read() == b"shared across machines"
    completion = second.chat.completions.create(model="gemini-2.5-flash", messages=[{"role": "user", "content": [
        {"type": "text", "text": "read it"}, {"type": "file", "file_id": uploaded.id}]}])
    assert "plan.txt (22 bytes, text/plain)" in completion.choices[0].message.content


def test_generated_images_are_served_by_either_gateway(cluster):
    content = _ask(_client(cluster, 0), "[[sim:image]] a lighthouse")
    path = content[content.index("/image/"):content.rindex(")")]
    import requests

    other = requests.get(cluster["gateways"][1].url + path, timeout=10)
    assert other.status_code == 200 and other.content.startswith(b"\x89PNG")


def test_a_key_revoked_through_one_gateway_stops_working_on_the_other_within_the_hot_rows_time(cluster):
    import requests

    raw = _manage(cluster["setup_env"], "createapikey", "short-lived").strip().splitlines()[-1]
    urls = [gateway.url for gateway in cluster["gateways"]]
    for url in urls:  # each gateway reads the key, and keeps it
        assert requests.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {raw}"}, timeout=10).ok
    admin = {"Authorization": f"Bearer {cluster['admin_key']}"}
    listed = requests.get(f"{urls[0]}/api/keys", headers=admin, timeout=10).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    key_id = next(row["id"] for row in rows if row["name"] == "short-lived")
    assert requests.post(f"{urls[0]}/api/keys/{key_id}/revoke", headers=admin, timeout=10).ok
    revoked_at = time.monotonic()
    # The gateway that revoked it refuses it at once; the other within the time it keeps rows.
    assert requests.get(f"{urls[0]}/v1/models", headers={"Authorization": f"Bearer {raw}"},
                        timeout=10).status_code == 401
    while requests.get(f"{urls[1]}/v1/models", headers={"Authorization": f"Bearer {raw}"},
                       timeout=10).status_code != 401:
        assert time.monotonic() - revoked_at < HOT_ROWS_SECONDS + 2, "the other gateway still takes the key"
        time.sleep(0.05)
