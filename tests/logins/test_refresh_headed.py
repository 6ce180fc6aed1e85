"""Headed mode: the worker drives a visible Chromium on an X display (Xvfb here, as the Docker image does)."""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from accounts.models import AccountStatus
from logins.models import JobOutcome
from logins.worker import RefreshWorker
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def x_display(monkeypatch) -> Iterator[str]:
    """A throwaway Xvfb display; DISPLAY points at it for the browsers this test starts."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (Debian's xvfb; scripts/test installs it as root)")
    for number in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            break
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: Path(f"/tmp/.X11-unix/X{number}").exists() or server.poll() is not None,
                          10) is not None and server.poll() is None, "Xvfb did not start"
        monkeypatch.setenv("DISPLAY", f":{number}")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_worker_logs_an_account_in_again_with_a_visible_browser(refresh_settings, seat, login_sim, x_display,
                                                                     settings):
    settings.GEMPOOL_REFRESH_HEADLESS = False
    login_sim.configure_login(lifetime=3600)
    account, sim_account, _ = seat(expires_in=30 * 60)

    [job] = RefreshWorker(browsers=1).run_once()

    assert job.outcome == JobOutcome.SUCCEEDED, (job.step, job.error)
    account.refresh_from_db()
    assert account.secure_c_ses == sim_account.secure_c_ses and account.status == AccountStatus.ACTIVE
    assert "HeadlessChrome" not in account.user_agent  # the page saw a headed browser
