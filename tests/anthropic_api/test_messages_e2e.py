"""End to end: the anthropic SDK against /v1/messages on a gunicorn process and the simulator."""
from __future__ import annotations

import json

import anthropic
import httpx2 as httpx
import pytest

from accounts.models import RequestLog
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

MODEL = "gemini-2.5-flash"
WEATHER = {"name": "get_weather", "description": "Current weather in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
CALL_OSLO = '[[sim:call=get_weather:{"city": "Oslo"}]]'


@pytest.fixture
def claude(gateway, api_key):
    """The official anthropic SDK, pointed at the gateway with a fresh key (sent as x-api-key)."""
    with anthropic.Anthropic(api_key=api_key[1], base_url=gateway.url, max_retries=0, timeout=60) as client:
        yield client


def test_the_sdk_creates_a_message(claude, pool_account):
    pool_account()
    message = claude.messages.create(model=MODEL, max_tokens=256, system="Be brief.",
                                     messages=[{"role": "user", "content": "Hello there"}])
    assert message.type == "message" and message.role == "assistant" and message.model == MODEL
    assert message.id.startswith("msg_")
    [block] = message.content
    assert block.type == "text" and block.text.startswith(f"Simulated answer from {MODEL}.")
    assert "<system>\nBe brief.\n</system>" in block.text and "User: Hello there" in block.text
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert wait_until(lambda: RequestLog.objects.filter(endpoint="messages", stream=False,
                                                        status_code=200).exists(), 5)


def test_the_sdk_streams_a_message_with_anthropics_event_sequence(claude, pool_account):
    pool_account()
    with claude.messages.stream(model=MODEL, max_tokens=256,
                                messages=[{"role": "user", "content": "Stream please"}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    kinds = [e.type for e in events if e.type not in ("text", "thinking", "signature", "input_json")]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1:4] == ["content_block_start", "content_block_delta", "content_block_delta"]
    assert kinds[-3] == "content_block_stop"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == final.content[0].text == f"Simulated answer from {MODEL}. You said: Stream please"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0
    assert all(block.type == "text" for block in final.content)  # thinking was not asked for


def test_the_sdk_shows_thoughts_as_signed_thinking_blocks_only_when_enabled(claude, pool_account):
    pool_account()
    thinking = {"type": "enabled", "budget_tokens": 2048}
    message = claude.messages.create(model=MODEL, max_tokens=4096, thinking=thinking,
                                     messages=[{"role": "user", "content": "Think first"}])
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert "Thinking step 1" in message.content[0].thinking and message.content[0].signature
    with claude.messages.stream(model=MODEL, max_tokens=4096, thinking=thinking,
                                messages=[{"role": "user", "content": "Think first"}]) as stream:
        deltas = [e.delta.type for e in stream if e.type == "content_block_delta"]
        final = stream.get_final_message()
    assert deltas[0] == "thinking_delta" and "signature_delta" in deltas and "text_delta" in deltas
    assert final.content[0].type == "thinking" and final.content[0].signature == message.content[0].signature
    # The thinking block goes back in the history as clients send it; the answer continues.
    follow = claude.messages.create(model=MODEL, max_tokens=4096, thinking=thinking, messages=[
        {"role": "user", "content": "Think first"},
        {"role": "assistant", "content": [b.model_dump() for b in final.content]},
        {"role": "user", "content": "And now?"}])
    assert follow.content[-1].type == "text" and "User: And now?" in follow.content[-1].text


def test_the_sdk_runs_a_full_tool_loop(claude, pool_account):
    pool_account()
    question = {"role": "user", "content": f"What is the weather in Oslo? {CALL_OSLO}"}
    first = claude.messages.create(model=MODEL, max_tokens=512, tools=[WEATHER], messages=[question])
    assert first.stop_reason == "tool_use"
    [call] = [b for b in first.content if b.type == "tool_use"]
    assert call.id.startswith("toolu_") and call.name == "get_weather" and call.input == {"city": "Oslo"}
    history = [question, {"role": "assistant", "content": [b.model_dump() for b in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                             "content": "18 C and sunny"}]}]
    with claude.messages.stream(model=MODEL, max_tokens=512, tools=[WEATHER], messages=history) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn" and [b.type for b in final.content] == ["text"]
    assert "18 C and sunny" in final.content[0].text and "<<CALL_" not in final.content[0].text
    assert wait_until(lambda: RequestLog.objects.filter(endpoint="messages").count() == 2, 5)


def test_the_sdk_streams_a_tool_call_as_input_json_and_honours_tool_choice(claude, pool_account):
    pool_account()
    with claude.messages.stream(model=MODEL, max_tokens=512, tools=[WEATHER],
                                tool_choice={"type": "tool", "name": "get_weather"},
                                messages=[{"role": "user", "content": f"Oslo? {CALL_OSLO}"}]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert [e.delta.type for e in events if e.type == "content_block_delta"] == ["input_json_delta"]
    assert final.stop_reason == "tool_use" and final.content[0].input == {"city": "Oslo"}
    # tool_choice none: the tools are not offered, the model answers in prose.
    plain = claude.messages.create(model=MODEL, max_tokens=512, tools=[WEATHER], tool_choice={"type": "none"},
                                   messages=[{"role": "user", "content": "Just talk"}])
    assert plain.stop_reason == "end_turn" and "<tool_use>" not in plain.content[0].text


def test_stop_sequences_end_the_answer_there(claude, pool_account):
    pool_account()
    message = claude.messages.create(model=MODEL, max_tokens=256, stop_sequences=["You said"],
                                     messages=[{"role": "user", "content": "Hi"}])
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "You said"
    assert message.content[0].text == f"Simulated answer from {MODEL}. "
    with claude.messages.stream(model=MODEL, max_tokens=256, stop_sequences=["nope", "from gem"],
                                messages=[{"role": "user", "content": "Hi [[sim:fragments=20]]"}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Simulated answer " and final.stop_reason == "stop_sequence"
    assert final.stop_sequence == "from gem"
    # The run ended early by choice: recorded as answered, not as a client that left.
    assert wait_until(lambda: RequestLog.objects.filter(endpoint="messages", stream=True).exists(), 5)
    assert RequestLog.objects.get(endpoint="messages", stream=True).error_kind == ""


def _sse(gateway, raw_key, body):
    """(event name, data) pairs of a raw streamed answer, in order."""
    events = []
    with httpx.stream("POST", gateway.url + "/v1/messages", json=body, timeout=30,
                      headers={"x-api-key": raw_key, "anthropic-version": "2023-06-01"}) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in answer.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    return events


def test_the_raw_stream_pings_during_silences_and_names_each_event(gateway, api_key, pool_account):
    pool_account()
    body = {"model": MODEL, "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "Slowly [[sim:delay=1.2]] [[sim:fragments=2]]"}]}
    events = _sse(gateway, api_key[1], body)
    assert all(name == data["type"] for name, data in events)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    first_text = names.index("content_block_start")
    assert "ping" in names[1:first_text]  # the upstream thought in silence (GEMPOOL_KEEPALIVE_SECONDS=0.5)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and start["usage"]["input_tokens"] > 0
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


def test_a_failure_mid_stream_ends_with_an_error_event(gateway, api_key, pool_account):
    pool_account()
    body = {"model": MODEL, "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "Break [[sim:429_during]] [[sim:fragments=6]]"}]}
    events = _sse(gateway, api_key[1], body)
    assert events[0][0] == "message_start" and "content_block_delta" in [n for n, _ in events]
    name, data = events[-1]
    assert name == "error" and data["type"] == "error" and data["error"]["type"] == "api_error"
    assert "incomplete" in data["error"]["message"]


def test_count_tokens_estimates_the_input(claude, pool_account):
    small = claude.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "Hi"}])
    large = claude.messages.count_tokens(model=MODEL, tools=[WEATHER], system="x" * 400,
                                         messages=[{"role": "user", "content": "Hi"}])
    assert 0 < small.input_tokens < large.input_tokens


@pytest.mark.parametrize("call,status,error_type", [
    (lambda c: c.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]),
     404, "not_found_error"),
    (lambda c: c.messages.create(model=MODEL, max_tokens=10, messages=[]), 400, "invalid_request_error"),
    (lambda c: c.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "robot", "content": "x"}]),
     400, "invalid_request_error"),
])
def test_errors_reach_the_sdk_in_anthropics_envelope(claude, pool_account, call, status, error_type):
    pool_account()
    with pytest.raises(anthropic.APIStatusError) as raised:
        call(claude)
    assert raised.value.status_code == status
    assert raised.value.body["type"] == "error" and raised.value.body["error"]["type"] == error_type


def test_auth_throttle_and_bad_json_answer_in_anthropics_envelope(gateway, api_key, settings):
    url = gateway.url + "/v1/messages"
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    for headers, status, error_type in [
        ({}, 401, "authentication_error"),
        ({"x-api-key": "gp-wrong"}, 401, "authentication_error"),
        ({"Authorization": "Bearer gp-wrong"}, 401, "authentication_error"),
    ]:
        answer = httpx.post(url, json=body, headers=headers)
        assert (answer.status_code, answer.json()["error"]["type"], answer.json()["type"]) == \
            (status, error_type, "error")
    bad_json = httpx.post(url, content=b"{nope", headers={"x-api-key": api_key[1],
                                                          "content-type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    unknown_route = httpx.post(gateway.url + "/v1/messages/nope", json=body, headers={"x-api-key": api_key[1]})
    assert unknown_route.status_code == 404 and unknown_route.json()["error"]["type"] == "not_found_error"
    key, raw = api_key
    key.rate_limit_per_minute = 1
    key.save()
    headers = {"x-api-key": raw, "anthropic-version": "2023-06-01", "anthropic-beta": "tools-2024-04-04"}
    statuses = [httpx.post(gateway.url + "/v1/messages/count_tokens", json=body, headers=headers)
                for _ in range(2)]
    assert statuses[0].status_code == 200
    assert statuses[1].status_code == 429 and statuses[1].json()["error"]["type"] == "rate_limit_error"
