"""Fixtures for files_app: an isolated data dir per test, the upstream simulator, accounts it knows."""
from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from gemini_enterprise.simulator import SimAccount, SimulatorServer
from gemini_enterprise.simulator.media import tiny_png

PNG = tiny_png()
PNG_DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
_seats = itertools.count(1)


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Every test writes its bytes into its own folder (parallel-safe, nothing left behind)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    cache.clear()
    yield settings.DATA_DIR
    cache.clear()


@pytest.fixture(scope="session")
def sim() -> Iterator[SimulatorServer]:
    """One simulator per test process, on a free loopback port."""
    server = SimulatorServer(port=0, fragment_delay=0.0, fragments=2, thought_fragments=0).start()
    yield server
    server.stop()


@pytest.fixture
def upstream(sim, settings):
    """The process's upstream client, pointed at the simulator."""
    from accounts.upstream import get_client, reset_client

    settings.GEMPOOL_AUTH_URL = sim.url
    settings.GEMPOOL_API_URL = sim.url
    reset_client()
    yield get_client()
    reset_client()


@pytest.fixture
def sim_account(sim, db):
    """Factory: an Account whose cookies the simulator accepts, and its upstream credentials."""
    from accounts.models import Account
    from accounts.upstream import credentials_for

    def make():
        n = next(_seats)
        # Unique per worker process too: xdist workers each run their own simulator, but share nothing else.
        csesidx = f"{7_000_000 + n}"
        account = Account.objects.create(label=f"sim seat {n}", team_id=f"sim-team-{n}", csesidx=csesidx,
                                         secure_c_ses=f"sim-ses-{n}", host_c_oses=f"sim-oses-{n}")
        sim.add_account(SimAccount(csesidx=csesidx, secure_c_ses=f"sim-ses-{n}", team_id=f"sim-team-{n}",
                                   host_c_oses=f"sim-oses-{n}"))
        return account, credentials_for(account)

    return make
