"""Prompt logging (GEMPOOL_LOG_PROMPTS): off by default, no prompt text reaches the request log; on, each API face
keeps the start of the request's last user message."""
from __future__ import annotations

import json

import pytest

from accounts.models import RequestLog
from metering.records import PROMPT_EXCERPT_CHARS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogue", "upstream_settings")]

MODEL = "gemini-2.5-flash"
LONG = "Summarise this: " + "x" * 1000


def _chat(client, raw_key, messages):
    return client.post("/v1/chat/completions", data=json.dumps({"model": MODEL, "messages": messages}),
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw_key}")


def test_by_default_the_request_log_keeps_no_prompt_text(client, api_key, pool_account):
    pool_account()
    assert _chat(client, api_key[1], [{"role": "user", "content": "a secret plan"}]).status_code == 200
    log = RequestLog.objects.get()
    assert log.prompt_excerpt is None and log.status_code == 200


def test_with_prompt_logging_on_a_chat_keeps_the_start_of_its_last_user_message(client, api_key, pool_account,
                                                                                 settings):
    settings.GEMPOOL_LOG_PROMPTS = True
    pool_account()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"}, {"role": "user", "content": LONG}]
    assert _chat(client, api_key[1], messages).status_code == 200
    assert RequestLog.objects.get().prompt_excerpt == LONG[:PROMPT_EXCERPT_CHARS]


def test_with_prompt_logging_on_messages_and_responses_keep_their_prompt_too(client, api_key, pool_account,
                                                                              settings):
    settings.GEMPOOL_LOG_PROMPTS = True
    pool_account()
    answer = client.post("/v1/messages", data=json.dumps({"model": MODEL, "max_tokens": 50, "messages": [
        {"role": "user", "content": [{"type": "text", "text": "hello from claude"}]}]}),
        content_type="application/json", HTTP_X_API_KEY=api_key[1], HTTP_ANTHROPIC_VERSION="2023-06-01")
    assert answer.status_code == 200, answer.content
    response = client.post("/v1/responses", data=json.dumps({"model": MODEL, "input": "hello from codex"}),
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert response.status_code == 200, response.content
    assert dict(RequestLog.objects.values_list("endpoint", "prompt_excerpt")) == {
        "messages": "hello from claude", "responses": "hello from codex"}
