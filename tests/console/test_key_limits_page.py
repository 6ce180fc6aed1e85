"""Editing a key's limits in the console (Settings → API keys → Limits), at desktop and phone width."""
from __future__ import annotations

import re

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_operator_sets_and_clears_a_keys_limits(logged_in, catalogue, width):
    page = logged_in
    page.set_viewport_size({"width": width, "height": 860})
    key, _ = api_key_create(name="team bot")
    page.goto("/settings/")
    row = page.locator("#keys-table tbody tr", has_text="team bot")
    row.locator(".key-limits", has_text="none").wait_for()
    row.locator("[data-action=limits]").click()
    form = page.locator("#limits-form")
    form.locator("[name=requests_per_day]").fill("500")
    form.locator("[name=max_concurrent]").fill("2")
    form.locator("[name=expires_at]").fill("2030-01-31T18:30")
    form.locator('[name=allowed_models][value="gemini-2.5-pro"]').check()
    form.locator("button[type=submit]").click()
    page.locator(".snackbar", has_text="Saved the limits of team bot").wait_for()
    row.locator(".key-limits", has_text="500 req/day").wait_for()
    key.refresh_from_db()
    assert (key.requests_per_day, key.max_concurrent, key.tokens_per_day, key.allowed_models) == (
        500, 2, None, ["gemini-2.5-pro"])
    assert key.expires_at.isoformat() == "2030-01-31T18:30:00+00:00"
    if width <= 400:
        assert page.evaluate("document.documentElement.scrollWidth") <= width

    row.locator("[data-action=limits]").click()
    assert form.locator("[name=requests_per_day]").input_value() == "500"
    form.locator("[name=requests_per_day]").fill("")
    form.locator("[name=tokens_per_day]").fill("0")
    form.locator("button[type=submit]").click()
    form.locator('[data-error="tokens_per_day"]', has_text="greater than or equal to 1").wait_for()
    form.locator("[name=tokens_per_day]").fill("")
    form.locator("button[type=submit]").click()
    row.locator(".key-limits", has_text=re.compile(r"^2 at once")).wait_for()  # the daily budget is gone
    assert ApiKey.objects.get(pk=key.pk).requests_per_day is None
    assert page.errors == []
