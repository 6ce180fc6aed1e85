"""End to end: the official OpenAI SDK's Responses API against a real gunicorn process and the simulator."""
from __future__ import annotations

import json

import openai
import pytest
import requests

from accounts.models import RequestLog
from accounts.services import api_key_create
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]
MODEL = "gemini-2.5-flash"


def test_a_response_carries_reasoning_text_and_usage(openai_client, pool_account):
    pool_account()
    response = openai_client.responses.create(model=MODEL, input="Hello!")
    assert response.id.startswith("resp_") and response.status == "completed"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output[0].summary[0].text
    assert response.output_text.endswith("You said: Hello!")
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.output_tokens_details.reasoning_tokens > 0
    assert response.model == MODEL


def test_instructions_and_input_items_reach_the_upstream(openai_client, pool_account):
    pool_account()
    response = openai_client.responses.create(model=MODEL, instructions="You are terse.", input=[
        {"role": "user", "content": "My name is Ada."},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Noted."}]},
        {"role": "user", "content": [{"type": "input_text", "text": "[[sim:echo]]What is my name?"}]},
    ])
    assert response.output_text == ("<system>\nYou are terse.\n</system>\n\nUser: My name is Ada.\n\n"
                                    "Assistant: Noted.\n\nUser: What is my name?\n\nAssistant:")


def test_previous_response_id_continues_the_conversation(openai_client, pool_account):
    pool_account()
    first = openai_client.responses.create(model=MODEL, input="My name is Ada.")
    second = openai_client.responses.create(model=MODEL, previous_response_id=first.id,
                                            input="[[sim:echo]]What is my name?")
    assert second.previous_response_id == first.id
    assert second.output_text.startswith("User: My name is Ada.\n\nAssistant: ")
    assert first.output_text in second.output_text
    assert second.output_text.endswith("User: What is my name?\n\nAssistant:")


def test_a_stored_response_can_be_read_and_deleted_by_its_key_only(openai_client, pool_account, gateway):
    pool_account()
    created = openai_client.responses.create(model=MODEL, input="Keep this")
    fetched = openai_client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    _, other_raw = api_key_create(name="someone else")
    with openai.OpenAI(api_key=other_raw, base_url=gateway.url + "/v1", max_retries=0) as other:
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.retrieve(created.id)
        assert caught.value.body["message"] == f"Response with id {created.id!r} not found."
        with pytest.raises(openai.NotFoundError):
            other.responses.create(model=MODEL, input="x", previous_response_id=created.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(created.id)
    openai_client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        openai_client.responses.retrieve(created.id)


def test_store_false_keeps_nothing_to_continue_from(openai_client, pool_account):
    pool_account()
    response = openai_client.responses.create(model=MODEL, input="Forget this", store=False)
    assert response.output_text and response.store is False
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.responses.create(model=MODEL, input="again", previous_response_id=response.id)
    assert caught.value.body["param"] == "previous_response_id"


def test_an_inline_image_is_uploaded_to_the_serving_account(openai_client, pool_account):
    pool_account()
    png = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQ"
           "AAAABJRU5ErkJggg==")
    response = openai_client.responses.create(model=MODEL, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": png}]}])
    assert "Attached files: attachment-1.png (" in response.output_text


def test_an_uploaded_file_is_given_to_the_model_by_file_id(openai_client, pool_account):
    pool_account()
    uploaded = openai_client.files.create(file=("notes.txt", b"remember the milk", "text/plain"),
                                          purpose="user_data")
    response = openai_client.responses.create(model=MODEL, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "Summarise"}, {"type": "input_file", "file_id": uploaded.id}]}])
    assert "notes.txt (17 bytes, text/plain)" in response.output_text


def test_an_image_url_goes_through_the_safe_fetch(openai_client, pool_account, gateway):
    pool_account()
    with pytest.raises(openai.BadRequestError) as caught:  # the gateway refuses private addresses
        openai_client.responses.create(model=MODEL, input=[{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": gateway.url + "/static/cat.png"}]}])
    assert caught.value.body["param"] == "input[0].content[1].image_url"
    assert "is unknown or not a public address" in caught.value.body["message"]  # one message: no DNS oracle


def test_streaming_follows_the_event_sequence_of_the_spec(openai_client, pool_account):
    pool_account()
    events = list(openai_client.responses.create(model=MODEL, input="Stream please", stream=True))
    types = [event.type for event in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    message_start = types.index("response.content_part.added")
    assert types[message_start - 1] == "response.output_item.added"
    assert types.count("response.output_text.delta") >= 3  # forwarded fragment by fragment
    done = types.index("response.output_text.done")
    assert types[done:done + 3] == ["response.output_text.done", "response.content_part.done",
                                    "response.output_item.done"]
    assert types.index("response.reasoning_summary_text.delta") < message_start
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    assert text.endswith("You said: Stream please")
    final = events[-1].response
    assert final.output_text == text and final.usage.total_tokens > 0


def test_a_streamed_response_is_stored_before_it_completes(openai_client, pool_account):
    pool_account()
    events = openai_client.responses.create(model=MODEL, input="Stream and keep", stream=True)
    completed = [event for event in events if event.type == "response.completed"][0].response
    assert openai_client.responses.retrieve(completed.id).output_text == completed.output_text


def test_a_failure_after_output_ends_the_stream_with_response_failed(openai_client, pool_account):
    pool_account()
    events = list(openai_client.responses.create(model=MODEL, input="[[sim:fault=429_during]] long answer",
                                                  stream=True))
    types = [event.type for event in events]
    assert "response.output_text.delta" in types
    assert types[-2:] == ["error", "response.failed"]
    assert "incomplete" in events[-1].response.error.message


def test_all_accounts_cooling_down_is_a_429(openai_client, pool_account, sim):
    account = pool_account()
    sim.add_fault("429_before", csesidx=account.csesidx, count=None)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client.responses.create(model=MODEL, input="nobody home", stream=True)
    assert caught.value.body["code"] == "all_accounts_cooling_down"


def test_bad_input_is_a_400_naming_the_param(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model=MODEL, input=[{"role": "robot", "content": "hi"}])
    assert caught.value.body["param"] == "input[0].role"


def test_the_raw_stream_names_each_event_and_the_request_log_says_responses(gateway, api_key, pool_account):
    pool_account()
    response = requests.post(gateway.url + "/v1/responses", stream=True, timeout=30,
                             headers={"Authorization": f"Bearer {api_key[1]}"},
                             json={"model": MODEL, "stream": True, "input": "hi"})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    blocks = [block for block in response.text.split("\n\n") if block and not block.startswith(":")]
    for block in blocks:
        name, data = block.split("\n")
        assert name == "event: " + json.loads(data.removeprefix("data: "))["type"]
    assert wait_until(lambda: RequestLog.objects.filter(endpoint="responses", stream=True).exists(), 5) is not None


WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                               "required": ["city"], "additionalProperties": False}}
CALL_WEATHER = '[[sim:call=get_weather:{"city": "Oslo"}]]'


def test_a_full_tool_loop_calls_then_answers_with_the_result(openai_client, pool_account):
    pool_account()
    first = openai_client.responses.create(model=MODEL, tools=[WEATHER_TOOL],
                                           input=f"{CALL_WEATHER} What is the weather in Oslo?")
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and first.status == "completed"
    call = calls[0]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")
    assert "<<CALL_" not in first.output_text  # the markup never reaches the client
    second = openai_client.responses.create(model=MODEL, tools=[WEATHER_TOOL], previous_response_id=first.id,
                                            input=[{"type": "function_call_output", "call_id": call.call_id,
                                                    "output": "Sunny, 21 C"}])
    assert not [item for item in second.output if item.type == "function_call"]
    assert "Sunny, 21 C" in second.output_text


def test_a_tool_loop_without_storage_resends_the_history(openai_client, pool_account):
    pool_account()
    question = {"role": "user", "content": f"{CALL_WEATHER} Weather?"}
    first = openai_client.responses.create(model=MODEL, tools=[WEATHER_TOOL], input=[question], store=False)
    call = next(item for item in first.output if item.type == "function_call")
    history = [question, *[item.model_dump(exclude_none=True) for item in first.output],
               {"type": "function_call_output", "call_id": call.call_id, "output": "Rain"}]
    second = openai_client.responses.create(model=MODEL, tools=[WEATHER_TOOL], input=history, store=False)
    assert "Rain" in second.output_text and second.output[-1].type == "message"


def test_a_streamed_call_sends_function_call_argument_events(openai_client, pool_account):
    pool_account()
    events = list(openai_client.responses.create(model=MODEL, tools=[WEATHER_TOOL], stream=True,
                                                  input=f"{CALL_WEATHER} Weather?"))
    types = [event.type for event in events]
    start = next(i for i, e in enumerate(events)
                 if e.type == "response.output_item.added" and e.item.type == "function_call")
    assert types[start:start + 4] == ["response.output_item.added", "response.function_call_arguments.delta",
                                      "response.function_call_arguments.done", "response.output_item.done"]
    assert json.loads(events[start + 2].arguments) == {"city": "Oslo"}
    assert types[-1] == "response.completed"
    assert [item.type for item in events[-1].response.output if item.type == "function_call"] == ["function_call"]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "<<CALL_" not in text and "get_weather" not in text


def test_a_required_call_the_model_never_makes_is_an_error(openai_client, pool_account):
    pool_account()
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client.responses.create(model=MODEL, tools=[WEATHER_TOOL], tool_choice="required",
                                       input=f"{CALL_WEATHER}[[sim:call_prose]][[sim:call_stubborn]] Weather?")
    assert caught.value.status_code == 502 and caught.value.body["code"] == "tool_call_missing"


def test_a_bad_tool_schema_is_a_400_naming_it(openai_client):
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model=MODEL, input="x", tools=[
            {**WEATHER_TOOL, "parameters": {"type": "object", "properties": 3}}])
    assert caught.value.body["param"] == "tools[0].parameters"


def test_the_sdks_stream_helper_accumulates_text_and_calls(openai_client, pool_account):
    """The SDK's stream manager rebuilds the response from the events: it fails on an event out of place."""
    pool_account()
    with openai_client.responses.stream(model=MODEL, tools=[WEATHER_TOOL],
                                        input=f"Let me see. {CALL_WEATHER} Weather?") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed" and final.output_text == "".join(deltas)
    assert [item.type for item in final.output][-1] == "function_call"
    assert final.output[-1].arguments == '{"city": "Oslo"}'


def test_a_wrong_key_is_a_401(gateway, catalogue):
    with openai.OpenAI(api_key="gp-wrong", base_url=gateway.url + "/v1", max_retries=0) as client:
        with pytest.raises(openai.AuthenticationError):
            client.responses.create(model=MODEL, input="hi")
        with pytest.raises(openai.AuthenticationError):
            client.responses.retrieve("resp_whatever")
