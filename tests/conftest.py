"""Fixtures shared by the whole suite: personas (staff user, API keys) and seeded pool state."""
from __future__ import annotations

import time

import pytest
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test.testcases import TransactionTestCase

from tests.mailserver import mailbox, mailserver, make_mailbox  # noqa: F401 - fixtures for the whole suite

FLUSH_ATTEMPTS = 5
FLUSH_PAUSE = 0.1  # seconds before the second try, doubled for each later one


@pytest.fixture(autouse=True, scope="session")
def _flush_outlasts_a_gateway_still_writing():
    """Retry a transactional test's flush that PostgreSQL aborted as a deadlock.

    The gateway processes write a request's bookkeeping right after its response has gone out, so a test
    that ends at that moment can have its TRUNCATE of every table meet that transaction, which locks the
    same tables in another order; PostgreSQL then aborts one of the two. Retrying ours is all it takes, after
    a pause: a try made at once can meet the gateways' next write (their bookkeeping is written every 0.25 s,
    from each worker), and once three such tries in a row all lost.
    """
    original = TransactionTestCase._fixture_teardown

    def teardown(self):
        for attempt in range(1, FLUSH_ATTEMPTS + 1):
            try:
                return original(self)
            except CommandError as error:
                if attempt == FLUSH_ATTEMPTS or not _is_deadlock(error):
                    raise
            time.sleep(FLUSH_PAUSE * 2 ** (attempt - 1))

    TransactionTestCase._fixture_teardown = teardown
    yield
    TransactionTestCase._fixture_teardown = original


def _is_deadlock(error: BaseException) -> bool:
    cause = error.__cause__ or error.__context__
    return isinstance(cause, OperationalError) and "deadlock detected" in str(cause)


@pytest.fixture
def throttle_window_stands_still(monkeypatch):
    """The throttles' clock stops at the test's start: a fixed window's count starts again when the window
    ends, so tries that straddled a boundary would never reach the limit the test counts up to."""
    from types import SimpleNamespace

    from gempool_site import throttles

    now = time.time()
    monkeypatch.setattr(throttles, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture(autouse=True)
def _hot_rows_start_empty():
    """A rolled-back or flushed test database sends no signal: rows kept by an earlier test must go."""
    from gempool_site import hot_rows

    hot_rows.clear_all()
    yield
    hot_rows.clear_all()


@pytest.fixture
def api_key(db):
    """A live chat API key: (record, raw key)."""
    from accounts.services import api_key_create

    return api_key_create(name="test client")


@pytest.fixture
def admin_key(db):
    """An admin API key allowed on /api: (record, raw key)."""
    from accounts.services import api_key_create

    return api_key_create(name="test admin", is_admin=True)


OPERATOR_APPS = ("accounts", "models_catalog", "files_app", "logins", "metering")


def grant_operator_permissions(user) -> None:
    """Every permission of gempool's own apps: what an operator running the pool is given."""
    from django.contrib.auth.models import Permission

    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=OPERATOR_APPS))


@pytest.fixture
def staff_user(db, django_user_model):
    """An operator: staff, with every permission of the pool (not a superuser)."""
    user = django_user_model.objects.create_user(username="operator", password="correct-horse-42", is_staff=True)
    grant_operator_permissions(user)
    return user


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_account(db):
    """Factory for accounts with unique seats."""
    from accounts.models import Account

    counter = iter(range(1, 10_000))

    def make(**fields):
        n = next(counter)
        defaults = {"label": f"seat {n}", "team_id": f"team-{n}", "csesidx": str(1000 + n),
                    "secure_c_ses": f"ses-cookie-{n}", "host_c_oses": f"oses-cookie-{n}"}
        defaults.update(fields)
        return Account.objects.create(**defaults)

    return make


# ---- the upstream simulator and a real gateway process -----------------------------------------


@pytest.fixture(scope="session")
def simulator():
    """One upstream simulator per test worker; tests register the accounts they need."""
    from gemini_enterprise.simulator import SimulatorServer

    sim = SimulatorServer(port=0, fragment_delay=0.002, fragments=4, thought_fragments=2).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(simulator):
    """The simulator with faults, statistics and login settings (lifetime, LMTP, variant) reset for this test."""
    simulator.clear_faults()
    simulator.reset()
    simulator.reset_login_settings()
    yield simulator
    simulator.clear_faults()
    simulator.reset_login_settings()


@pytest.fixture
def pool_account(db, sim, make_account):
    """Factory: an Account in the database and the matching seat in the simulator."""
    from gemini_enterprise.simulator import SimAccount

    def make(**fields):
        account = make_account(**fields)
        sim.add_account(SimAccount(csesidx=account.csesidx, secure_c_ses=account.secure_c_ses,
                                   host_c_oses=account.host_c_oses, team_id=account.team_id))
        return account

    return make


@pytest.fixture
def upstream_settings(settings, sim):
    """Point this process's upstream client at the simulator."""
    from accounts.upstream import reset_client

    settings.GEMPOOL_AUTH_URL = sim.url
    settings.GEMPOOL_API_URL = sim.url
    reset_client()
    yield settings
    reset_client()


@pytest.fixture(scope="session")
def gateway(django_db_setup, django_db_blocker, simulator):
    """A gunicorn process serving gempool against the test database and the simulator."""
    from django.conf import settings as django_settings
    from django.db import connection

    from tests.gateway_process import GatewayProcess, database_url

    process = GatewayProcess(database=database_url(connection.settings_dict), upstream_url=simulator.url,
                             data_dir=str(django_settings.DATA_DIR), secret_key=django_settings.SECRET_KEY,
                             extra_env={"GEMPOOL_KEEPALIVE_SECONDS": "0.5", "GEMPOOL_IMAGE_WAIT_SECONDS": "3",
                                        "GEMPOOL_IMAGE_POLL_INTERVAL": "0.2"}).start()
    yield process
    process.stop()


@pytest.fixture
def openai_client(gateway, api_key):
    """The official OpenAI SDK, pointed at the gateway with a fresh key."""
    import openai

    _, raw = api_key
    with openai.OpenAI(api_key=raw, base_url=gateway.url + "/v1", max_retries=0, timeout=60) as client:
        yield client


@pytest.fixture
def catalogue(db):
    """The seeded model catalogue (transactional tests flush the migration's rows away)."""
    import importlib

    from django.apps import apps

    seed = importlib.import_module("models_catalog.migrations.0002_seed_catalogue").seed
    seed(apps, None)
    from models_catalog.models import ModelConfig

    return ModelConfig.objects.all()
