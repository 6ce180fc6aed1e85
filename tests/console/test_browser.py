"""The console in a real browser (Debian's headless Chromium through Playwright) against the live app."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Account, AccountStatus, PoolSettings, RequestLog
from gemini_enterprise.simulator import SimAccount
from tests.console.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def account_row(page, label: str):
    return page.locator("#accounts-table tbody tr", has_text=label)


def test_an_operator_logs_in_and_lands_where_they_were_going(page, operator):
    page.goto("/accounts/")
    assert re.search(r"/login/\?next=/accounts/$", page.url)
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/")
    page.locator("h1", has_text="Accounts").wait_for()
    assert page.errors == []


def test_a_wrong_password_is_refused(page, operator):
    page.goto("/login/")
    page.fill("input[name=username]", operator.username)
    page.fill("input[name=password]", "not-it")
    page.click("button[type=submit]")
    page.locator(".alert-error").wait_for()
    assert "/login/" in page.url


def test_an_operator_adds_toggles_and_tests_an_account(logged_in, sim):
    page = logged_in
    sim.add_account(SimAccount(csesidx="880011", secure_c_ses="browser-ses-cookie", team_id="team-browser"))
    page.goto("/accounts/")
    page.locator("#accounts-empty").wait_for()

    page.click("#add-account")
    form = page.locator("#account-form")
    form.locator("[name=label]").fill("Browser seat")
    form.locator("[name=team_id]").fill("team-browser")
    form.locator("[name=csesidx]").fill("880011")
    page.click("#account-save")
    # The cookie is required for a new account: the server's per-field message shows under the field.
    page.locator('[data-error="secure_c_ses"]', has_text="blank").wait_for()
    form.locator("[name=secure_c_ses]").fill("browser-ses-cookie")
    page.click("#account-save")

    row = account_row(page, "Browser seat")
    row.locator(".badge", has_text="Active").wait_for()
    assert "browser-ses-cookie" not in page.content()

    row.locator(".switch").click()
    row.locator(".badge", has_text="Disabled").wait_for()
    assert Account.objects.get(csesidx="880011").enabled is False
    row.locator(".switch").click()
    row.locator(".badge", has_text="Active").wait_for()

    # Dead cookies as far as the account is concerned: the test marks it as needing a login ...
    Account.objects.filter(csesidx="880011").update(status=AccountStatus.NEEDS_LOGIN, last_error_kind="login_required",
                                                    last_error_reason="upstream 401", last_error_at=timezone.now())
    row.locator(".badge", has_text="Needs login").wait_for()  # picked up by the live refresh
    # ... and a passing test (real getoxsrf against the simulator) brings it back.
    row.locator("[data-action=test]").click()
    page.locator(".snackbar", has_text="Test passed").wait_for()
    row.locator(".badge", has_text="Active").wait_for()
    assert Account.objects.get(csesidx="880011").status == AccountStatus.ACTIVE
    assert page.errors == []


def test_a_failing_account_test_shows_the_error(logged_in, sim, make_account):
    page = logged_in
    make_account(label="Stale seat", secure_c_ses="expired-cookie")
    page.goto("/accounts/")
    row = account_row(page, "Stale seat")
    row.locator("[data-action=test]").click()
    page.locator(".snackbar", has_text="login required").wait_for()
    row.locator(".badge", has_text="Needs login").wait_for()
    row.locator(".cell-error", has_text="login required").wait_for()


def test_edit_keeps_the_cookie_and_delete_removes_the_account(logged_in, make_account):
    page = logged_in
    account = make_account(label="Editable", secure_c_ses="keep-this-cookie")
    page.goto("/accounts/")
    row = account_row(page, "Editable")
    row.locator("[data-action=edit]").click()
    page.locator("[data-hint=secure_c_ses]", has_text="Stored").wait_for()
    page.locator("#account-form [name=label]").fill("Edited seat")
    page.click("#account-save")
    account_row(page, "Edited seat").wait_for()
    account.refresh_from_db()
    assert (account.label, account.secure_c_ses) == ("Edited seat", "keep-this-cookie")

    account_row(page, "Edited seat").locator("[data-action=delete]").click()
    page.click("#confirm-ok")
    page.locator("#accounts-empty").wait_for()
    assert not Account.objects.filter(pk=account.pk).exists()


def test_the_theme_switch_persists_across_reloads(logged_in):
    page = logged_in
    page.goto("/")
    start = page.evaluate("document.documentElement.dataset.theme")
    page.click("#theme-toggle")
    flipped = "dark" if start == "light" else "light"
    assert page.evaluate("document.documentElement.dataset.theme") == flipped
    page.reload()
    assert page.evaluate("document.documentElement.dataset.theme") == flipped
    page.goto("/settings/")
    assert page.evaluate("document.documentElement.dataset.theme") == flipped
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(17, 19, 24)") == (flipped == "dark")


def test_the_settings_page_imports_a_config_file_and_lists_a_bad_ones_problems(logged_in, tmp_path):
    page = logged_in
    good = tmp_path / "business_gemini_session.json"
    good.write_text(json.dumps({"proxy": "", "proxy_enabled": False, "accounts": [
        {"team_id": "team-imp", "secure_c_ses": "imported-cookie", "csesidx": "5150", "available": True}],
        "models": []}))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"accounts": [{"team_id": "t", "csesidx": "1"}]}))

    page.goto("/settings/")
    page.set_input_files("#import-file", str(bad))
    page.click("#import-submit")
    page.locator("#import-result li", has_text="accounts[0].secure_c_ses").wait_for()
    assert not Account.objects.exists()

    page.set_input_files("#import-file", str(good))
    page.click("#import-submit")
    page.locator("#import-result .alert-ok", has_text="1 new").wait_for()
    assert Account.objects.get(csesidx="5150").secure_c_ses == "imported-cookie"
    page.goto("/accounts/")
    account_row(page, "5150").locator(".badge", has_text="Active").wait_for()


def test_the_settings_form_stays_disabled_until_the_stored_settings_are_in(logged_in):
    page = logged_in
    held = []
    page.route("**/api/config", lambda route: held.append(route))  # the GET waits for the test
    page.goto("/settings/")
    cooldown = page.locator("#settings-form [name=cooldown_base_seconds]")
    page.wait_for_function("() => document.readyState === 'complete'")
    assert cooldown.is_disabled() and page.locator("#settings-save").is_disabled()
    while not held:
        page.wait_for_timeout(50)
    held[0].continue_()
    page.wait_for_function("() => !document.getElementById('settings-fields').disabled")
    assert cooldown.input_value() == str(PoolSettings.load().cooldown_base_seconds)


def test_settings_save_and_an_api_key_is_shown_once(logged_in, settings):
    settings.GEMPOOL_PROXY_ALLOW_PRIVATE = True  # a proxy on this host, as operators often run one
    page = logged_in
    page.goto("/settings/")
    page.locator("#settings-form [name=cooldown_base_seconds]").fill("90")
    page.locator("#settings-form [name=proxy]").fill("http://u:proxy-secret@127.0.0.1:9")
    page.click("#settings-save")
    page.locator("#proxy-hint", has_text="127.0.0.1:9").wait_for()
    assert "proxy-secret" not in page.content()

    page.locator("#key-form [name=name]").fill("browser client")
    page.click("#key-create")
    page.locator("#new-key").wait_for()
    key = page.locator("#new-key-value").inner_text()
    assert key.startswith("gp-")
    page.locator("#keys-table tbody tr", has_text="browser client").wait_for()
    page.click("#new-key-hide")
    page.reload()
    assert key not in page.content()
    page.locator("#keys-table tbody tr", has_text="browser client").locator("button", has_text="Revoke").click()
    page.locator("#keys-table .badge", has_text="revoked").wait_for()


def test_the_dashboard_draws_the_last_24_hours(logged_in, make_account):
    page = logged_in
    account = make_account(label="Busy seat")
    now = timezone.now()
    RequestLog.objects.bulk_create(
        [RequestLog(account=account, created_at=now - timedelta(hours=h), status_code=200, latency_ms=100)
         for h in range(5)] + [RequestLog(account=account, created_at=now, status_code=429, latency_ms=50,
                                          error_kind="rate_limited")])
    page.goto("/")
    page.locator("#chart-summary", has_text="6 requests · 1 errors").wait_for()
    assert page.locator("#chart svg rect.bar-req").count() == 5
    assert page.locator("#chart svg rect.bar-err").count() == 1
    page.locator("#per-account tbody tr", has_text="Busy seat").wait_for()
    page.locator("#recent-errors li", has_text="rate_limited").wait_for()
    page.locator('[data-stat="total"]', has_text="1").wait_for()
    assert page.errors == []


def test_models_can_be_added_and_disabled(logged_in):
    page = logged_in
    page.goto("/models/")
    page.click("#add-model")
    page.locator("#model-form [name=id]").fill("team-model")
    page.locator("#model-form [name=upstream_model_id]").fill("gemini-2.5-flash")
    page.locator("#model-form button[type=submit]").click()
    row = page.locator("#models-table tbody tr", has_text="team-model")
    row.wait_for()
    row.locator(".switch").click()
    page.locator(".snackbar", has_text="team-model disabled").wait_for()
    from models_catalog.models import ModelConfig

    assert ModelConfig.objects.get(id="team-model").enabled is False


def test_aliases_are_edited_on_the_models_page_and_clashes_are_shown(logged_in, catalogue):
    page = logged_in
    page.goto("/models/")
    row = page.locator("#models-table tbody tr", has_text="gemini-2.5-pro")
    row.locator("button", has_text="Edit").click()
    page.locator("#model-form [name=aliases]").fill("claude-sonnet-4-5, gpt-4o")
    page.locator("#model-form button[type=submit]").click()
    row.locator(".aliases", has_text="claude-sonnet-4-5").wait_for()
    from models_catalog.models import ModelConfig

    assert ModelConfig.objects.get(id="gemini-2.5-pro").aliases == ["claude-sonnet-4-5", "gpt-4o"]
    other = page.locator("#models-table tbody tr", has_text="gemini-2.5-flash").first
    other.locator("button", has_text="Edit").click()
    page.locator("#model-form [name=aliases]").fill("gpt-4o")
    page.locator("#model-form button[type=submit]").click()
    page.locator('#model-form [data-error="aliases"]', has_text="already an alias of 'gemini-2.5-pro'").wait_for()
    assert ModelConfig.objects.get(id="gemini-2.5-flash").aliases == []
    assert page.errors == []


def test_the_default_model_is_set_on_the_settings_page(logged_in, catalogue):
    page = logged_in
    page.goto("/settings/")
    page.wait_for_function("() => !document.getElementById('settings-fields').disabled")
    page.locator("#settings-form [name=default_model]").fill("no-such-model")
    page.click("#settings-save")
    page.locator('#settings-form [data-error="default_model"]', has_text="not an enabled model").wait_for()
    page.locator("#settings-form [name=default_model]").fill("gemini-2.5-flash")
    page.click("#settings-save")
    page.locator(".snackbar", has_text="Settings saved").wait_for()
    assert PoolSettings.load().default_model == "gemini-2.5-flash"


def test_the_console_works_at_phone_width(logged_in, make_account):
    page = logged_in
    make_account(label="Phone seat")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/accounts/")
    row = account_row(page, "Phone seat")
    row.wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert row.locator("[data-action=test]").is_visible()
