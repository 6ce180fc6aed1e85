"""End to end: the official OpenAI SDK against a real gunicorn process and the upstream simulator."""
from __future__ import annotations

import openai
import pytest
import requests

from accounts.models import AccountStatus
from tests.polling import success_count, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]


def _ask(client, text: str, **kwargs):
    return client.chat.completions.create(model=kwargs.pop("model", "gemini-2.5-flash"),
                                          messages=[{"role": "user", "content": text}], **kwargs)


def test_a_completion_returns_content_reasoning_and_usage(openai_client, pool_account):
    pool_account()
    completion = _ask(openai_client, "Hello!")
    message = completion.choices[0].message
    assert message.content.endswith("You said: Hello!")
    assert "from gemini-2.5-flash" in message.content
    assert message.model_extra["reasoning_content"]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.model == "gemini-2.5-flash" and completion.id.startswith("chatcmpl-")


def test_streaming_sends_role_then_reasoning_then_content_then_stop(openai_client, pool_account):
    pool_account()
    stream = _ask(openai_client, "Stream please", stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    kinds = []
    for chunk in chunks[1:]:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        if (delta.model_extra or {}).get("reasoning_content"):
            kinds.append("reasoning")
        if delta.content:
            kinds.append("content")
    assert kinds.index("content") > kinds.index("reasoning")
    assert "reasoning" not in kinds[kinds.index("content"):]
    assert len([k for k in kinds if k == "content"]) >= 3  # forwarded fragment by fragment, not buffered
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith("You said: Stream please")
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_the_raw_stream_ends_with_done(gateway, api_key, pool_account, catalogue):
    pool_account()
    response = requests.post(gateway.url + "/v1/chat/completions", stream=True, timeout=30,
                             headers={"Authorization": f"Bearer {api_key[1]}"},
                             json={"model": "gemini-2.5-flash", "stream": True,
                                   "messages": [{"role": "user", "content": "hi"}]})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line for line in response.iter_lines() if line]
    assert events[-1] == b"data: [DONE]"


def test_the_whole_conversation_reaches_the_upstream(openai_client, pool_account):
    pool_account()
    completion = openai_client.chat.completions.create(model="gemini-2.5-flash", messages=[
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": [{"type": "text", "text": "[[sim:echo]]What is my name?"}]},
    ])
    assert completion.choices[0].message.content == (
        "<system>\nYou are terse.\n</system>\n\nUser: My name is Ada.\n\nAssistant: Noted.\n\n"
        "User: What is my name?\n\nAssistant:")


def test_every_request_gets_a_fresh_upstream_session(openai_client, pool_account, sim):
    pool_account()
    for _ in range(3):
        _ask(openai_client, "again")
    stats = sim.stats()
    assert stats["requests"]["streamAssist"] == 3
    assert stats["sessions_reused"] == 0
    assert stats["requests"]["createSession"] >= 3  # spare sessions are made ahead, never shared


def test_rotation_spreads_requests_over_the_accounts(openai_client, pool_account):
    accounts = [pool_account() for _ in range(3)]
    for _ in range(6):
        _ask(openai_client, "spread")
    assert wait_until(lambda: [success_count(a) for a in accounts] == [2, 2, 2], 5) is not None, \
        [success_count(a) for a in accounts]


def test_a_rate_limited_account_cools_down_and_the_next_one_answers(openai_client, pool_account, sim):
    first, second = pool_account(), pool_account()
    sim.add_fault("429_before", csesidx=first.csesidx, count=None)
    for _ in range(2):
        assert _ask(openai_client, "failover").choices[0].message.content.endswith("You said: failover")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == AccountStatus.COOLING_DOWN and first.cooldown_until is not None
    assert first.last_error_kind == "rate_limited"
    assert wait_until(lambda: success_count(second) == 2, 5) is not None


def test_all_accounts_cooling_down_is_a_429_with_retry_after(openai_client, pool_account, sim):
    account = pool_account()
    sim.add_fault("429_before", csesidx=account.csesidx, count=None)
    with pytest.raises(openai.RateLimitError) as caught:
        _ask(openai_client, "nobody home")
    assert caught.value.status_code == 429
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert caught.value.body["code"] == "all_accounts_cooling_down"


def test_no_usable_account_is_a_503(openai_client, pool_account):
    pool_account(enabled=False, status=AccountStatus.DISABLED)
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(openai_client, "anyone?")
    assert caught.value.status_code == 503


def test_dead_cookies_mark_the_account_needs_login_and_fail_over(openai_client, pool_account, sim):
    broken, healthy = pool_account(), pool_account()
    sim.add_fault("401", csesidx=broken.csesidx, endpoint="getoxsrf", count=None)
    for _ in range(2):
        _ask(openai_client, "hi")
    broken.refresh_from_db()
    assert broken.status == AccountStatus.NEEDS_LOGIN
    assert wait_until(lambda: success_count(healthy) == 2, 5) is not None


def test_a_failure_after_output_ends_the_stream_with_an_error(openai_client, pool_account):
    pool_account()
    pool_account()
    stream = _ask(openai_client, "[[sim:fault=429_during]] long answer", stream=True)
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert received, "some content arrived before the failure"
    assert "incomplete" in str(caught.value.message)


def test_a_non_stream_failure_midway_moves_to_another_account(openai_client, pool_account, sim):
    first, second = pool_account(), pool_account()
    sim.add_fault("truncate", csesidx=first.csesidx, count=None)
    for _ in range(2):
        assert _ask(openai_client, "whole").choices[0].message.content.endswith("You said: whole")
    assert wait_until(lambda: success_count(second) == 2, 5) is not None


def test_a_policy_skip_finishes_with_content_filter(openai_client, pool_account):
    pool_account()
    completion = _ask(openai_client, "[[sim:skipped]] forbidden")
    assert completion.choices[0].finish_reason == "content_filter"


def test_an_unknown_model_is_a_404_naming_the_valid_ones(openai_client, pool_account):
    with pytest.raises(openai.NotFoundError) as caught:
        _ask(openai_client, "x", model="gpt-9")
    assert caught.value.body["code"] == "model_not_found"
    assert "gemini-2.5-flash" in caught.value.body["message"]


def test_models_are_listed_in_openai_shape(openai_client):
    models = openai_client.models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "gemini-enterprise" and "gemini-imagen" in ids
    assert all(m.object == "model" for m in models.data)


def test_a_wrong_key_is_a_401(gateway, catalogue):
    client = openai.OpenAI(api_key="gp-wrong", base_url=gateway.url + "/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_generated_images_are_linked_and_served(openai_client, pool_account, gateway):
    pool_account()
    content = _ask(openai_client, "a cat", model="gemini-imagen").choices[0].message.content
    url = content[content.index("](") + 2:content.rindex(")")]
    assert url.startswith(gateway.url + "/image/")
    image = requests.get(url, timeout=10)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")


def test_an_inline_image_is_uploaded_to_the_serving_account(openai_client, pool_account):
    pool_account()
    png = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")
    completion = openai_client.chat.completions.create(model="gemini-2.5-flash", messages=[
        {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                     {"type": "image_url", "image_url": {"url": png}}]}])
    assert "Attached files: attachment-1.png (" in completion.choices[0].message.content


def test_an_uploaded_file_works_whichever_account_serves(openai_client, pool_account, sim):
    accounts = [pool_account(), pool_account()]
    uploaded = openai_client.files.create(file=("notes.txt", b"remember the milk", "text/plain"),
                                          purpose="assistants")
    answers = []
    for _ in range(2):
        completion = openai_client.chat.completions.create(model="gemini-2.5-flash", messages=[
            {"role": "user", "content": [{"type": "text", "text": "Summarise"},
                                         {"type": "file", "file": {"file_id": uploaded.id}}]}])
        answers.append(completion.choices[0].message.content)
    assert all("notes.txt (17 bytes, text/plain)" in answer for answer in answers)
    by_account = sim.stats()["by_account"]
    assert all(by_account[a.csesidx].get("addContextFile") == 1 for a in accounts)


def test_an_unknown_file_id_is_a_404(openai_client, pool_account):
    pool_account()
    with pytest.raises(openai.NotFoundError):
        openai_client.chat.completions.create(model="gemini-2.5-flash", messages=[
            {"role": "user", "content": [{"type": "file", "file_id": "file-doesnotexist"}]}])


def test_keepalive_comments_flow_during_long_silences(gateway, api_key, pool_account, catalogue):
    pool_account()
    response = requests.post(gateway.url + "/v1/chat/completions", stream=True, timeout=30,
                             headers={"Authorization": f"Bearer {api_key[1]}"},
                             json={"model": "gemini-2.5-flash", "stream": True, "messages": [
                                 {"role": "user", "content": "[[sim:fault=hang_mid_stream=1.6]] slow"}]})
    lines = [line for line in response.iter_lines() if line]
    assert b": keep-alive" in lines
    assert lines[-1] == b"data: [DONE]"


@pytest.mark.parametrize("method,path,body,status,code", [
    ("get", "/v1/nope", None, 404, "unknown_url"),
    ("get", "/v1/chat/completions", None, 405, "method_not_allowed"),
    ("post", "/v1/chat/completions", b"{not json", 400, "invalid_json"),
])
def test_v1_errors_are_always_the_openai_envelope(gateway, api_key, method, path, body, status, code):
    response = requests.request(method, gateway.url + path, data=body, timeout=10,
                                headers={"Authorization": f"Bearer {api_key[1]}",
                                         "Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["code"] == code


def test_a_bad_file_in_the_prompts_format_is_a_400_naming_the_prompts_field(gateway, api_key, pool_account):
    pool_account()
    prompt = {"role": "user", "text": "Describe", "files": [{"data": "data:image/png,@@", "type": "image"}]}
    response = requests.post(gateway.url + "/v1/chat/completions", timeout=10,
                             headers={"Authorization": f"Bearer {api_key[1]}"},
                             json={"model": "gemini-2.5-flash", "prompts": [prompt]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompts[0].files[0].data"


def test_health_and_status_report_counts_and_no_secrets(openai_client, gateway, pool_account):
    pool_account(secure_c_ses="SECRET-MARKER-4242")
    assert requests.get(gateway.url + "/health", timeout=5).json() == {"status": "up"}
    health = requests.get(gateway.url + "/health", timeout=5,
                          headers={"Authorization": f"Bearer {openai_client.api_key}"})
    assert health.status_code == 200 and health.json()["accounts"]["active"] == 1
    status = requests.get(gateway.url + "/v1/status", timeout=5,
                          headers={"Authorization": f"Bearer {openai_client.api_key}"})
    assert status.json()["accounts"]["total"] == 1
    assert "SECRET-MARKER" not in health.text + status.text
    assert requests.get(gateway.url + "/v1/status", timeout=5).status_code == 401


async def _async_stream(gateway, key):
    async with openai.AsyncOpenAI(api_key=key, base_url=gateway.url + "/v1", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gemini-2.5-flash", stream=True, messages=[{"role": "user", "content": "async hi"}])
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


def test_the_async_client_streams_too(gateway, api_key, pool_account, catalogue):
    import asyncio

    pool_account()
    assert asyncio.run(_async_stream(gateway, api_key[1])).endswith("You said: async hi")


def test_an_oversized_body_is_a_413_envelope(gateway, api_key):
    from django.conf import settings

    body = b'{"model": "x", "messages": [{"role": "user", "content": "' + b"a" * (
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + b'"}]}'
    response = requests.post(gateway.url + "/v1/chat/completions", data=body, timeout=30,
                             headers={"Authorization": f"Bearer {api_key[1]}", "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
