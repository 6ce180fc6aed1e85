"""Several gunicorn workers, one /metrics: every scrape reports what all workers counted, a worker that dies
keeps its counts, and GEMPOOL_METRICS_BIND serves /metrics alone without credentials."""
from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection

from metering import multiproc
from tests.gateway_process import GatewayProcess, database_url, free_port
from tests.metering.scrape import total
from tests.polling import wait_until

pytestmark = pytest.mark.django_db(transaction=True)
# A route nothing else calls (the start-up polls /health): refused, as it has no key, and counted as such.
PROBE = {"route": "/v1/models", "status": "401"}


@pytest.fixture
def two_workers(tmp_path, simulator):
    metrics_port = free_port()
    gateway = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=simulator.url,
                             data_dir=str(tmp_path), secret_key=django_settings.SECRET_KEY,
                             extra_env={"GEMPOOL_WORKERS": "2",
                                        "GEMPOOL_METRICS_BIND": f"127.0.0.1:{metrics_port}"}).start()
    gateway.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    gateway.samples_dir = multiproc.directory_for(data_dir=str(tmp_path), bind=f"127.0.0.1:{gateway.port}")
    yield gateway
    gateway.stop()


def _scrape(gateway) -> str:
    response = requests.get(gateway.metrics_url, timeout=10)
    assert response.status_code == 200
    return response.text


def _probe(gateway, times: int) -> None:
    def one(_):
        with requests.Session() as session:  # a new connection each: the kernel spreads them over workers
            assert session.get(gateway.url + "/v1/models", timeout=10).status_code == 401

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(times)))


def _probe_until_both_workers_counted(gateway) -> int:
    """Probe in batches until both workers have counted some (the kernel picks who accepts); how many sent."""
    sent = 0
    while len(_worker_pids(gateway)) < 2:
        assert sent < 4000, "one worker took every connection"
        _probe(gateway, 20)
        sent += 20
    return sent


def _worker_pids(gateway) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in gateway.samples_dir.glob("counter_*.db")}


def test_counts_from_every_worker_add_up_in_each_scrape(two_workers):
    start = total(_scrape(two_workers), "gempool_http_requests_total", **PROBE)
    sent = _probe_until_both_workers_counted(two_workers)
    for _ in range(5):  # whichever worker answers the scrape, it reports the sum of both
        text = _scrape(two_workers)
        assert total(text, "gempool_http_requests_total", **PROBE) - start == sent
    # Nothing left in flight (a start-up health poll the client gave up on may still be finishing).
    assert wait_until(lambda: total(_scrape(two_workers), "gempool_http_requests_in_progress") == 0, 10) is not None


def test_a_dead_workers_counts_stay_and_its_live_gauge_goes(two_workers):
    start = total(_scrape(two_workers), "gempool_http_requests_total", **PROBE)
    sent = _probe_until_both_workers_counted(two_workers)
    victim = min(_worker_pids(two_workers))
    os.kill(victim, signal.SIGKILL)
    gauge = two_workers.samples_dir / f"gauge_livesum_{victim}.db"
    assert wait_until(lambda: not gauge.exists(), 15) is not None  # child_exit marked it dead
    text = _scrape(two_workers)
    assert total(text, "gempool_http_requests_total", **PROBE) - start == sent


def test_the_metrics_listener_serves_only_metrics_and_the_main_one_wants_credentials(two_workers):
    base = two_workers.metrics_url.rsplit("/", 1)[0]
    assert requests.get(base + "/health", timeout=5).status_code == 404
    assert requests.post(two_workers.metrics_url, timeout=5).status_code == 405
    assert requests.get(two_workers.url + "/metrics", timeout=5).status_code in (401, 403)
    assert "gempool_accounts" in _scrape(two_workers)


def test_a_new_start_empties_the_samples_left_by_the_last_run(tmp_path):
    directory = multiproc.directory_for(data_dir=str(tmp_path), bind="127.0.0.1:1")
    directory.mkdir(parents=True)
    (directory / "counter_123.db").write_bytes(b"stale")
    multiproc.empty(directory)
    assert directory.is_dir() and not list(directory.iterdir())
