"""Fixtures of the re-login tests: the simulator's login pages, a real Dovecot, and a worker pointed at both."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# The built-in waits are sized for Google (5 s polls, 30 s windows); the simulator mails at once. Elements
# keep a wide wait: with four Chromiums beside a parallel suite on two cores, a click has taken over 8 s.
FAST_FLOW = {"mail": {"poll_seconds": 0.2, "wait_windows_seconds": [4, 4, 4], "skew_seconds": 2},
             "timeouts": {"element_seconds": 20, "hard_stop_watch_seconds": 1, "after_login_seconds": 10}}


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); scripts/test installs it")
    return CHROMIUM


@pytest.fixture
def login_sim(simulator, mailserver) -> Iterator:
    """The session's simulator with its login pages mailing codes to this process's Dovecot."""
    simulator.clear_faults()
    simulator.reset()
    simulator.configure_login(lmtp=mailserver.lmtp, variant="a", lifetime=None, cookie_lifetime=None,
                              mail_routes={})
    yield simulator
    simulator.clear_faults()
    simulator.configure_login(lifetime=None, cookie_lifetime=None, variant="a", mail_routes={})


@pytest.fixture
def refresh_settings(settings, login_sim, mailserver, chromium, tmp_path) -> Iterator:
    """Every login host and the upstream on the simulator; the fast flow file; the test CA trusted."""
    from accounts.upstream import reset_client

    flow_file = tmp_path / "flow.json"
    flow_file.write_text(json.dumps(FAST_FLOW))
    settings.GEMPOOL_AUTH_URL = settings.GEMPOOL_API_URL = login_sim.url
    settings.GEMPOOL_LOGIN_AUTH_URL = settings.GEMPOOL_LOGIN_VERIFY_URL = login_sim.url
    settings.GEMPOOL_LOGIN_BUSINESS_URL = login_sim.url
    settings.GEMPOOL_LOGIN_FLOW_FILE = str(flow_file)
    settings.GEMPOOL_MAILBOX_CA_FILE = mailserver.cafile
    settings.GEMPOOL_REFRESH_CHROMIUM = str(chromium)
    reset_client()
    yield settings
    reset_client()


@pytest.fixture
def seat(db, login_sim, mailserver):
    """Factory: an account with a mailbox, known to the simulator by its email address.

    `seat(expires_in=..., catch_all=None, **account_fields)` -> (account, sim account, its own test mailbox);
    with `catch_all` (a Mailbox) the seat gets an address on seats.test and no mailbox of its own.
    """
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Account
    from gemini_enterprise.simulator import SimAccount
    from logins.models import LoginProfile, Mailbox

    counter = iter(range(1, 10_000))

    def make(*, expires_in: float = 60.0, catch_all: Mailbox | None = None, **fields):
        n = next(counter)
        box = None if catch_all else mailserver.add_mailbox()
        email = box.address if box else f"seat-{os.getpid()}-{n}@seats.test"
        tag = f"{os.getpid()}-{n}-{email.split('@')[0]}"
        values = {"label": f"seat {tag}", "team_id": f"team-{tag}", "csesidx": str(700000 + n),
                  "secure_c_ses": f"old-ses-{tag}", "host_c_oses": f"old-oses-{tag}",
                  "login_expires_at": timezone.now() + timedelta(seconds=expires_in), **fields}
        account = Account.objects.create(**values)
        sim_account = SimAccount(csesidx=account.csesidx, secure_c_ses=account.secure_c_ses,
                                 host_c_oses=account.host_c_oses, team_id=account.team_id, email=email)
        login_sim.add_account(sim_account)
        mailbox = catch_all or Mailbox.objects.create(
            name=f"box {tag}", host=box.host, port=box.port, username=box.address, password=box.password)
        LoginProfile.objects.create(account=account, email=email, mailbox=mailbox)
        return account, sim_account, box

    return make
