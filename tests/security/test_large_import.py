"""A large config import must neither stall the worker's other requests nor run without bound (issue 14.6).

The probe: a 5 MB config with 99,127 accounts, dry run, ran past the worker timeout on the gevent loop, and
every in-flight request died with it. Now an import runs on a native thread, in bulk, and at most
GEMPOOL_IMPORT_MAX_ACCOUNTS accounts are taken per import.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from django.core.management import CommandError, call_command

from accounts.models import Account

pytestmark = pytest.mark.django_db


def _document(count: int, *, cookie_chars: int = 40) -> dict:
    return {"accounts": [{"team_id": f"team-{i % 50}", "csesidx": str(5_000_000 + i),
                          "secure_c_ses": f"{'c' * cookie_chars}-{i}", "host_c_oses": f"oses-{i}",
                          "label": f"seat {i}", "available": i % 7 != 0} for i in range(count)]}


def _post(client, admin_key, document: dict, query: str = ""):
    return client.post(f"/api/config/import{query}", json.dumps(document), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {admin_key[1]}")


def test_more_accounts_than_the_limit_are_refused_with_the_limit_named(client, admin_key, settings):
    settings.GEMPOOL_IMPORT_MAX_ACCOUNTS = 25
    response = _post(client, admin_key, _document(26))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_config"
    assert "26 accounts" in error["message"] and "at most 25" in error["message"]
    assert "GEMPOOL_IMPORT_MAX_ACCOUNTS" in error["message"]
    assert not Account.objects.exists()
    assert _post(client, admin_key, _document(25)).json()["accounts_created"] == 25


def test_the_command_names_the_limit_and_can_be_told_to_take_more(tmp_path, settings):
    settings.GEMPOOL_IMPORT_MAX_ACCOUNTS = 10
    path = tmp_path / "big.json"
    path.write_text(json.dumps(_document(12)))
    with pytest.raises(CommandError) as refused:
        call_command("importconfig", str(path))
    assert "12 accounts" in str(refused.value) and "--max-accounts" in str(refused.value)
    assert not Account.objects.exists()
    with pytest.raises(CommandError, match="at least 1"):
        call_command("importconfig", str(path), "--max-accounts", "0")
    call_command("importconfig", str(path), "--max-accounts", "12", stdout=open(tmp_path / "out", "w"))
    assert Account.objects.count() == 12


@pytest.mark.django_db(transaction=True)
def test_health_keeps_answering_while_a_large_import_runs(simulator, admin_key):
    """The probe's attack: a large dry-run import through the API while /health is polled on the same worker."""
    from django.conf import settings as django_settings
    from django.db import connection

    from tests.gateway_process import GatewayProcess, database_url

    count = 10_000  # the default limit: the largest import the API takes
    body = json.dumps(_document(count, cookie_chars=400)).encode()  # real cookie sizes: ~5 MB, like the probe's
    gateway = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=simulator.url,
                             data_dir=str(django_settings.DATA_DIR), secret_key=django_settings.SECRET_KEY,
                             extra_env={"GEMPOOL_IMPORT_MAX_MB": "20"}).start()
    headers = {"Authorization": f"Bearer {admin_key[1]}", "Content-Type": "application/json"}
    outcome: dict = {}

    def run_import() -> None:
        started = time.monotonic()
        response = requests.post(gateway.url + "/api/config/import?dry_run=1", data=body, headers=headers,
                                 timeout=600)
        outcome.update(status=response.status_code, body=response.json(), seconds=time.monotonic() - started)

    try:
        over = requests.post(gateway.url + "/api/config/import?dry_run=1", headers=headers, timeout=60,
                             data=json.dumps(_document(count + 1)).encode())
        assert over.status_code == 400 and "at most 10,000" in over.json()["error"]["message"], over.text[:500]
        importer = threading.Thread(target=run_import, daemon=True)
        importer.start()
        latencies = []
        while importer.is_alive():
            started = time.monotonic()
            assert requests.get(gateway.url + "/health", timeout=600).status_code == 200
            latencies.append(time.monotonic() - started)
        importer.join()
        log = gateway.log_text()
    finally:
        gateway.stop()
    assert outcome["status"] == 200, outcome
    assert outcome["body"]["accounts_created"] == count and outcome["body"]["dry_run"] is True
    assert not Account.objects.exists()  # a dry run
    assert "WORKER TIMEOUT" not in log
    # On the loop, the one probe in flight would wait out the whole import and no other would run.
    assert len(latencies) >= 5, (outcome["seconds"], latencies)
    assert max(latencies) < outcome["seconds"] / 3, (outcome["seconds"], latencies)
