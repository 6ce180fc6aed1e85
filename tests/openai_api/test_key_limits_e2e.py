"""Key limits through a real gateway and the official SDK: refusals in OpenAI's envelope, streamed or not."""
from __future__ import annotations

import openai
import pytest
import requests

from accounts.models import RequestLog
from accounts.services import api_key_create
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]


def _client(gateway, **limits):
    _, raw = api_key_create(name="limited e2e", **limits)
    return openai.OpenAI(api_key=raw, base_url=gateway.url + "/v1", max_retries=0, timeout=60), raw


def _ask(client, model="gemini-2.5-flash", **kwargs):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], **kwargs)


def test_the_daily_budget_answers_429_with_retry_after_until_midnight(gateway, pool_account):
    pool_account()
    client, _ = _client(gateway, requests_per_day=1)
    assert _ask(client).choices[0].message.content
    with pytest.raises(openai.RateLimitError) as caught:
        _ask(client, stream=True)
    assert caught.value.body["code"] == "daily_request_limit_exceeded"
    assert 1 <= int(caught.value.response.headers["Retry-After"]) <= 86400
    assert wait_until(lambda: RequestLog.objects.filter(error_kind="daily_request_limit_exceeded",
                                                        attempts=0).exists(), 5) is not None


def test_a_model_outside_the_allow_list_is_a_403_and_the_allowed_one_answers(gateway, pool_account):
    pool_account()
    client, _ = _client(gateway, allowed_models=["gemini-2.5-pro"])
    with pytest.raises(openai.PermissionDeniedError) as caught:
        _ask(client)
    assert caught.value.body["code"] == "model_not_allowed" and caught.value.body["type"] == "permission_error"
    assert _ask(client, model="gemini-2.5-pro").choices[0].message.content


def test_a_concurrency_limit_of_one_refuses_a_second_stream_while_the_first_runs(gateway, pool_account):
    pool_account(), pool_account()
    client, raw = _client(gateway, max_concurrent=1)
    first = requests.post(gateway.url + "/v1/chat/completions", stream=True, timeout=30,
                          headers={"Authorization": f"Bearer {raw}"},
                          json={"model": "gemini-2.5-flash", "stream": True,
                                "messages": [{"role": "user", "content": "[[sim:fault=slow_first_byte=2]] slow"}]})
    try:
        with pytest.raises(openai.RateLimitError) as caught:
            _ask(client)
        assert caught.value.body["code"] == "concurrency_limit_exceeded"
    finally:
        assert b"[DONE]" in b"".join(first.iter_content(None))

    def answered() -> bool:  # the first stream's slot is freed by its bookkeeping, just after its last byte
        try:
            return bool(_ask(client).choices[0].message.content)
        except openai.RateLimitError:
            return False

    assert wait_until(answered, 10) is not None
