"""Key limits and daily quotas in the console (Settings → API keys and quotas; Accounts → today's use)."""
from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts import lifecycle
from accounts.models import Account, ApiKey, PoolSettings
from accounts.quotas import quota_count_answer
from accounts.services import api_key_create
from gempool_site.quota_day import quota_day
from tests.polling import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_a_keys_limits_are_edited_in_a_dialog_and_shown_in_its_row(logged_in, catalogue):
    page = logged_in
    api_key, _ = api_key_create(name="team bot")
    page.goto("/settings/")
    row = page.locator("#keys-table tbody tr", has_text="team bot")
    row.locator("button", has_text="Limits").click()
    form = page.locator("#key-limits-form")
    form.locator("[name=daily_request_budget]").fill("100")
    form.locator("[name=daily_token_budget]").fill("50000")
    form.locator("[name=max_concurrent_requests]").fill("2")
    form.locator("[name=expires_at]").fill("2031-01-02T03:04")
    form.locator("input[value='gemini-2.5-pro']").check()
    page.click("#key-limits-save")
    row.locator("td", has_text="100 requests/day").wait_for()
    assert "2 at once" in row.inner_text() and "1 model" in row.inner_text()
    assert "0/100 requests" in row.inner_text()
    api_key.refresh_from_db()
    assert (api_key.daily_request_budget, api_key.daily_token_budget, api_key.max_concurrent_requests,
            api_key.allowed_models) == (100, 50000, 2, ["gemini-2.5-pro"])
    assert api_key.expires_at.year == 2031

    row.locator("button", has_text="Limits").click()  # blank clears a limit
    form.locator("[name=daily_request_budget]").fill("")
    page.click("#key-limits-save")
    page.wait_for_function("() => !document.getElementById('key-dialog').open")
    row.locator("td", has_text="2 at once").wait_for()
    api_key.refresh_from_db()
    assert api_key.daily_request_budget is None and api_key.max_concurrent_requests == 2
    assert page.errors == []


def test_a_bad_limit_is_shown_on_its_field(logged_in):
    page = logged_in
    api_key_create(name="strict")
    page.goto("/settings/")
    page.locator("#keys-table tbody tr", has_text="strict").locator("button", has_text="Limits").click()
    page.locator("#key-limits-form [name=max_concurrent_requests]").fill("0")
    page.click("#key-limits-save")
    error = page.locator("#key-limits-form [data-error=max_concurrent_requests]")
    error.filter(has_text="greater than or equal to 1").wait_for()
    assert ApiKey.objects.get(name="strict").max_concurrent_requests is None


def test_pool_quotas_are_saved_and_the_accounts_page_shows_todays_use(logged_in, make_account):
    page = logged_in
    page.goto("/settings/")
    page.wait_for_function("() => !document.getElementById('settings-fields').disabled")
    page.locator("#settings-form [name=daily_image_quota]").fill("2")
    page.click("#settings-save")
    page.locator("#quota-reset", has_text="start again at").wait_for()
    # The save's answer may still be on its way when the form shows it: wait for the stored row.
    assert wait_until(lambda: PoolSettings.load().daily_image_quota == 2, 10) is not None
    pool = PoolSettings.load()

    account = make_account(label="Busy seat")
    for _ in range(2):
        quota_count_answer(account=account, pool=pool, mime_types=["image/png"])
    page.goto("/accounts/")
    row = page.locator("#accounts-table tbody tr", has_text="Busy seat")
    row.locator(".quota-out", has_text="image 2/2").wait_for()
    assert "text 2" in row.inner_text()
    assert Account.objects.get(pk=account.pk).image_exhausted_until == quota_day().ends_at


def test_an_accounts_own_quota_is_edited_with_the_account(logged_in, make_account):
    page = logged_in
    account = make_account(label="Own quota")
    lifecycle.apply(account, lifecycle.disabled(now=account.created_at))  # any state: the quota is plain config
    page.goto("/accounts/")
    page.locator("#accounts-table tbody tr", has_text="Own quota").locator("[data-action=edit]").click()
    page.locator("#account-form [name=daily_text_quota]").fill("40")
    page.click("#account-save")
    page.wait_for_function("() => !document.getElementById('account-dialog').open")
    account.refresh_from_db()
    assert (account.daily_text_quota, account.daily_image_quota) == (40, None)
