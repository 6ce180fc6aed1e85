"""What a gunicorn worker holds in memory: the PostgreSQL driver only when the database is PostgreSQL."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.reliability.conftest import worker_pids

pytestmark = pytest.mark.django_db(transaction=True)


def _driver_mapped(pid: int) -> bool:
    return "psycopg" in Path(f"/proc/{pid}/maps").read_text()


def test_a_worker_loads_the_postgresql_driver_only_when_the_database_is_postgresql(fast_gateway, api_key):
    response = requests.get(fast_gateway.url + "/v1/models", headers={"Authorization": f"Bearer {api_key[1]}"},
                            timeout=10)
    assert response.status_code == 200  # the worker has loaded the whole application, DRF included
    expected = connection.vendor == "postgresql"
    pids = worker_pids(fast_gateway)
    assert [_driver_mapped(pid) for pid in pids] == [expected] * len(pids)
