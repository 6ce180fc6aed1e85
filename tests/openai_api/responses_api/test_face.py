"""The Responses face on the run engine: storage, keep-alives, the request log."""
from __future__ import annotations

import pytest

from accounts.models import RequestLog
from openai_api.models import StoredResponse
from openai_api.responses_api import face
from openai_api.responses_api.plan import response_plan_build
from openai_api.responses_api.serializers import ResponseRequestSerializer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue", "upstream_settings")]


def _plan(key, text="hello", **fields):
    serializer = ResponseRequestSerializer(data={"model": "gemini-2.5-flash", "input": text, **fields})
    assert serializer.is_valid(), serializer.errors
    return response_plan_build(data=serializer.validated_data, api_key=key, request_base_url=lambda: "http://testserver/")


def test_a_response_is_stored_with_its_conversation_and_logged_as_responses(api_key, pool_account):
    account = pool_account()
    response = face.complete(_plan(api_key[0], instructions="Be brief."))
    stored = StoredResponse.objects.get()
    assert stored.body == response.data and stored.api_key == api_key[0]
    assert [item["role"] for item in stored.context] == ["user", "assistant"]  # instructions are not carried over
    assert stored.context[1]["content"][0]["text"] == response.data["output"][-1]["content"][0]["text"]
    response.close()
    log = RequestLog.objects.get()
    assert (log.endpoint, log.account_id, log.status_code) == ("responses", account.pk, 200)


def test_store_false_keeps_nothing(api_key, pool_account):
    pool_account()
    response = face.complete(_plan(api_key[0], store=False))
    response.close()
    assert response.data["store"] is False and not StoredResponse.objects.exists()


def test_a_long_silence_sends_sse_comments(api_key, pool_account, settings):
    settings.GEMPOOL_KEEPALIVE_SECONDS = 0.1
    pool_account()
    response = face.stream(_plan(api_key[0], "[[sim:fault=hang_mid_stream=0.45]] slow", stream=True))
    body = b"".join(response.streaming_content)
    assert body.count(b": keep-alive\n\n") >= 3
    assert b"event: response.completed\n" in body
    assert RequestLog.objects.get().stream


def test_a_previous_response_is_continued_in_the_query(api_key, pool_account):
    pool_account()
    first = face.complete(_plan(api_key[0], "My name is Ada."))
    first.close()
    plan = _plan(api_key[0], "What is my name?", previous_response_id=first.data["id"])
    assert plan.run.query.startswith("User: My name is Ada.\n\nAssistant: ")
    assert plan.run.query.endswith("User: What is my name?\n\nAssistant:")


WEATHER = {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}}, "required": ["city"]}}


def test_function_calls_become_items_and_are_counted_in_the_request_log(api_key, pool_account):
    pool_account()
    response = face.complete(_plan(api_key[0], '[[sim:call=weather:{"city": "Oslo"}]] [[sim:call=weather:'
                                               '{"city": "Rome"}]] Weather?', tools=[WEATHER]))
    response.close()
    calls = [item for item in response.data["output"] if item["type"] == "function_call"]
    assert [call["arguments"] for call in calls] == ['{"city": "Oslo"}', '{"city": "Rome"}']
    assert response.data["status"] == "completed"
    assert RequestLog.objects.get().tool_calls == 2
    stored = StoredResponse.objects.get()
    assert [item["type"] for item in stored.context] == ["message", "function_call", "function_call"]


def test_tool_choice_none_offers_no_tools(api_key, pool_account):
    pool_account()
    plan = _plan(api_key[0], "Weather?", tools=[WEATHER], tool_choice="none")
    assert plan.run.tool_emulation is None and "<tool_use>" not in plan.run.query
