"""Key limits on /v1/messages: refusals in Anthropic's envelope, through the anthropic SDK."""
from __future__ import annotations

import anthropic
import pytest

from accounts.services import api_key_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]


def _claude(gateway, **limits):
    _, raw = api_key_create(name="limited claude", **limits)
    return anthropic.Anthropic(api_key=raw, base_url=gateway.url, max_retries=0, timeout=60)


def _ask(client, model="gemini-2.5-flash"):
    return client.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "hi"}])


def test_a_spent_daily_budget_is_anthropics_rate_limit_error_with_retry_after(gateway, pool_account):
    pool_account()
    with _claude(gateway, requests_per_day=1) as client:
        assert _ask(client).content
        with pytest.raises(anthropic.RateLimitError) as caught:
            _ask(client)
    assert caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "rate_limit_error"
    assert "daily budget" in caught.value.body["error"]["message"]
    assert int(caught.value.response.headers["Retry-After"]) >= 1


def test_a_model_outside_the_allow_list_is_anthropics_permission_error(gateway, pool_account):
    pool_account()
    with _claude(gateway, allowed_models=["gemini-2.5-pro"]) as client, \
            pytest.raises(anthropic.PermissionDeniedError) as caught:
        _ask(client)
    assert caught.value.body["error"]["type"] == "permission_error"
