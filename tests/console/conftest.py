"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

The browser is started once per test process (xdist workers each get their own); every test gets a fresh
context (cookies, localStorage). A failing browser test leaves a full-page screenshot in tests/artifacts/.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PASSWORD = "browser-pass-4821"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running on this thread, which
    must not outlive the browser tests (other tests in the same worker call asyncio.run or the ORM)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); scripts/test installs it")
    from playwright.sync_api import sync_playwright

    # With that loop running, Django's async-safety guard would refuse the tests' own synchronous ORM calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                                  headless=True)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request, live_server) -> Iterator:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.errors = []  # uncaught script errors and CSP violations, checked by tests that care
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("console", lambda msg: page.errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text else None)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid)[-150:]
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as exc:  # a crashed page must not hide the test's own failure
            logging.getLogger(__name__).warning("screenshot failed: %s", exc)
    context.close()


@pytest.fixture
def operator(django_user_model):
    from tests.conftest import grant_operator_permissions

    user = django_user_model.objects.create_user(username="browser-op", password=PASSWORD, is_staff=True)
    grant_operator_permissions(user)
    return user


@pytest.fixture
def logged_in(page, operator, live_server):
    """The page with a staff session already in its cookie jar (logging in through the form is its own test)."""
    from django.test import Client

    client = Client()
    client.force_login(operator)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                               "url": live_server.url}])
    return page


@pytest.fixture
def sim(settings):
    from accounts.upstream import reset_client
    from gemini_enterprise.simulator import SimulatorServer

    server = SimulatorServer(port=0, fragment_delay=0.001, fragments=2, thought_fragments=0).start()
    settings.GEMPOOL_AUTH_URL = settings.GEMPOOL_API_URL = server.url
    reset_client()
    yield server
    server.stop()
    reset_client()
