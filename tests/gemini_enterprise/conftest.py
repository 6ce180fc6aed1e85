"""Fixtures for the upstream client tests: a live simulator on a free loopback port, accounts, clients.

No Django and no database here: these tests must run standalone (`pytest tests/gemini_enterprise`).
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Callable, Iterator

import pytest

from gemini_enterprise.client import GeminiClient
from gemini_enterprise.simulator import SimAccount, SimulatorServer
from gemini_enterprise.types import ClientConfig, Credentials
from tests.gemini_enterprise.scripted_server import Script, ScriptedServer

_ids = itertools.count(1)


@pytest.fixture(scope="session")
def sim() -> Iterator[SimulatorServer]:
    """One simulator per test process (xdist workers each get their own port)."""
    server = SimulatorServer(port=0, fragment_delay=0.002, fragments=4, thought_fragments=2).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        request.getfixturevalue("sim").clear_faults()


@pytest.fixture
def make_account(sim: SimulatorServer) -> Callable[..., Credentials]:
    """Register a fresh account in the simulator and return matching credentials."""

    def make(*, host_c_oses: str = "oses-cookie", available: bool = True) -> Credentials:
        n = next(_ids)
        csesidx = f"{9000000 + n}"
        sim.add_account(
            SimAccount(
                csesidx=csesidx,
                secure_c_ses=f"ses-{n}-secret",
                team_id=f"team-{n}",
                host_c_oses=host_c_oses,
                available=available,
            )
        )
        return Credentials(
            key=f"acct-{n}",
            team_id=f"team-{n}",
            csesidx=csesidx,
            secure_c_ses=f"ses-{n}-secret",
            host_c_oses=host_c_oses,
        )

    return make


@pytest.fixture
def creds(make_account: Callable[..., Credentials]) -> Credentials:
    """A fresh, valid account."""
    return make_account()


@pytest.fixture
def sim_config(sim: SimulatorServer) -> ClientConfig:
    """Client configuration pointing both hosts at the simulator."""
    return ClientConfig(auth_url=sim.url, api_url=sim.url, connect_timeout=2.0, read_timeout=5.0)


@pytest.fixture
def client(sim_config: ClientConfig) -> Iterator[GeminiClient]:
    """A client talking to the simulator."""
    with GeminiClient(sim_config) as c:
        yield c


# ---- the login pages (issue 15) ------------------------------------------------------------------

@pytest.fixture(scope="session")
def login_simulator() -> Iterator[SimulatorServer]:
    """A simulator of its own for login tests: they change server-wide login settings."""
    server = SimulatorServer(port=0, fragment_delay=0.002, fragments=2, thought_fragments=0).start()
    yield server
    server.stop()


@pytest.fixture
def login_sim(login_simulator: SimulatorServer) -> Iterator[SimulatorServer]:
    """The login simulator with default login settings, no faults and an empty mail list."""
    login_simulator.reset_login_settings()
    login_simulator.clear_faults()
    login_simulator.reset()
    yield login_simulator
    login_simulator.clear_faults()
    login_simulator.reset_login_settings()


@pytest.fixture
def make_seat(login_sim: SimulatorServer) -> Callable[..., SimAccount]:
    """Factory: a seat that can log in (`email` defaults to a unique address), registered in login_sim."""

    def make(**fields) -> SimAccount:
        n = next(_ids)
        defaults = {"csesidx": f"{7000000 + n}", "secure_c_ses": f"ses-{n}-old", "host_c_oses": f"oses-{n}-old",
                    "team_id": f"0c0ffee0-{n:04x}", "email": f"seat{n}@mail.test"}
        seat = SimAccount(**{**defaults, **fields})
        login_sim.add_account(seat)
        return seat

    return make


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    """Start ScriptedServers (closed after the test): serve(script, ..., tls=None)."""
    servers: list[ScriptedServer] = []

    def make(*scripts: Script, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        servers.append(ScriptedServer(list(scripts), tls=tls))
        return servers[-1]

    yield make
    for server in servers:
        server.close()
