"""End to end: emulated tool calling on /v1/chat/completions with real clients (the OpenAI SDK and the
OpenAI Agents SDK) against a gunicorn process and the simulator's tool-following model."""
from __future__ import annotations

import asyncio
import json

import openai
import pytest

from accounts.models import RequestLog
from tests.polling import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]

MODEL = "gemini-2.5-flash"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a time zone.",
    "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]}}}
CALL_OSLO = '[[sim:call=get_weather:{"city": "Oslo"}]]'


def _ask(client, messages, **kwargs):
    return client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME], **kwargs)


def _streamed(client, messages, **kwargs):
    """Content, the calls put together from their deltas, finish reasons and the raw chunks."""
    chunks = list(_ask(client, messages, stream=True, **kwargs))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    calls: dict[int, dict] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] += (delta.function.name or "") if delta.function else ""
            call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    return content, [calls[i] for i in sorted(calls)], finishes, chunks


def test_the_sdk_runs_a_full_tool_loop(openai_client, pool_account):
    pool_account()
    question = {"role": "user", "content": f"What is the weather in Oslo? {CALL_OSLO}"}
    first = _ask(openai_client, [question])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    final = _ask(openai_client, [question, choice.message.model_dump(exclude_none=True),
                                 {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}])
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.tool_calls is None
    answer = final.choices[0].message.content
    assert "18 C and sunny" in answer and "get_weather" in answer  # the model saw the call and its result
    assert "<<CALL_" not in answer
    assert wait_until(lambda: RequestLog.objects.count() == 2, 5) is not None
    assert list(RequestLog.objects.order_by("created_at").values_list("tool_calls", flat=True)) == [1, 0]


def test_the_sdk_runs_a_streamed_tool_loop_with_usage(openai_client, pool_account):
    pool_account()
    question = {"role": "user", "content": f"Weather? {CALL_OSLO}"}
    content, calls, finishes, chunks = _streamed(openai_client, [question], stream_options={"include_usage": True})
    assert content == "" and finishes == ["tool_calls"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Oslo"})]
    assert calls[0]["id"].startswith("call_")
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert all(c.usage is None for c in chunks[:-1])
    history = [question, {"role": "assistant", "content": None, "tool_calls": [
        {"id": calls[0]["id"], "type": "function", "function": {"name": "get_weather",
                                                                "arguments": calls[0]["arguments"]}}]},
               {"role": "tool", "tool_call_id": calls[0]["id"], "content": "rain all day"}]
    content, calls, finishes, _ = _streamed(openai_client, history)
    assert "rain all day" in content and calls == [] and finishes == ["stop"]


def test_a_plain_answer_streams_unchanged_when_tools_are_offered(openai_client, pool_account):
    pool_account()
    content, calls, finishes, chunks = _streamed(openai_client, [{"role": "user", "content": "Just chat"}])
    assert "You said: \n\nUser: Just chat" in content and calls == [] and finishes == ["stop"]
    assert "<tool_use>" not in content and "CALL_" not in content  # the simulator skips the instructions
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) >= 3  # not held to the end


def test_parallel_calls_come_with_their_own_index_and_id(openai_client, pool_account):
    pool_account()
    text = f'{CALL_OSLO} [[sim:call=get_time:{{"zone": "CET"}}]]'
    content, calls, finishes, _ = _streamed(openai_client, [{"role": "user", "content": text}])
    assert [c["name"] for c in calls] == ["get_weather", "get_time"] and len({c["id"] for c in calls}) == 2
    single = _ask(openai_client, [{"role": "user", "content": text}], parallel_tool_calls=False)
    assert [c.function.name for c in single.choices[0].message.tool_calls] == ["get_weather"]


@pytest.mark.parametrize("variant", ["fenced", "commentary"])
def test_fenced_json_and_trailing_commentary_are_still_calls(openai_client, pool_account, variant):
    pool_account()
    content, calls, finishes, _ = _streamed(openai_client, [
        {"role": "user", "content": f"{CALL_OSLO} [[sim:call_{variant}]]"}])
    assert content == "" and [c["name"] for c in calls] == ["get_weather"] and finishes == ["tool_calls"]


@pytest.mark.parametrize("variant", ["unknown", "truncated"])
def test_an_unusable_call_is_asked_for_again_in_the_same_session(openai_client, pool_account, sim, variant):
    pool_account()
    reused = sim.stats()["sessions_reused"]
    content, calls, finishes, _ = _streamed(openai_client, [
        {"role": "user", "content": f"{CALL_OSLO} [[sim:call_{variant}]]"}])
    assert "CALL_" not in content and "undeclared_tool" not in content
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [("get_weather", {"city": "Oslo"})]
    stats = sim.stats()
    assert stats["requests"]["streamAssist"] == 2 and stats["sessions_reused"] == reused + 1


def test_a_call_only_thought_of_is_not_a_call(openai_client, pool_account):
    pool_account()
    completion = _ask(openai_client, [{"role": "user", "content": f"{CALL_OSLO} [[sim:call_in_thought]]"}])
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "stop" and message.tool_calls is None
    assert message.content == "I thought about calling get_weather."


def test_required_choice_asks_again_after_prose_and_gets_the_call(openai_client, pool_account, sim):
    pool_account()
    reused = sim.stats()["sessions_reused"]
    completion = _ask(openai_client, [{"role": "user", "content": f"{CALL_OSLO} [[sim:call_prose]]"}],
                      tool_choice="required")
    assert completion.choices[0].finish_reason == "tool_calls" and completion.choices[0].message.content is None
    assert sim.stats()["sessions_reused"] == reused + 1


def test_a_named_choice_that_the_model_keeps_refusing_is_a_clear_error(openai_client, pool_account):
    pool_account()
    messages = [{"role": "user", "content": f"{CALL_OSLO} [[sim:call_prose]] [[sim:call_stubborn]]"}]
    named = {"type": "function", "function": {"name": "get_weather"}}
    with pytest.raises(openai.APIStatusError) as caught:
        _ask(openai_client, messages, tool_choice=named)
    assert caught.value.status_code == 502 and caught.value.body["code"] == "tool_call_missing"
    assert "asked again" in caught.value.body["message"]
    with pytest.raises(openai.APIError, match="asked again"):
        _streamed(openai_client, messages, tool_choice=named)


def test_choice_none_lets_no_call_through(openai_client, pool_account):
    pool_account()
    completion = _ask(openai_client, [{"role": "user", "content": f"Weather? {CALL_OSLO}"}], tool_choice="none")
    assert completion.choices[0].finish_reason == "stop" and completion.choices[0].message.tool_calls is None
    assert completion.choices[0].message.content.startswith("I would call get_weather")


@pytest.mark.parametrize("streamed", [False, True], ids=["run", "run_streamed"])
def test_an_agents_sdk_agent_with_two_tools_runs_to_completion(gateway, api_key, pool_account, streamed):
    from agents import Agent, OpenAIChatCompletionsModel, Runner, function_tool, set_tracing_disabled

    set_tracing_disabled(True)  # traces would go to api.openai.com
    pool_account()
    used: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        used.append(f"weather:{city}")
        return f"It is 21 C in {city}."

    @function_tool
    def get_time(zone: str) -> str:
        """Current time in a time zone."""
        used.append(f"time:{zone}")
        return f"It is 14:05 in {zone}."

    async def run() -> str:
        client = openai.AsyncOpenAI(api_key=api_key[1], base_url=gateway.url + "/v1", max_retries=0, timeout=60)
        agent = Agent(name="Assistant", instructions="Use the tools.", tools=[get_weather, get_time],
                      model=OpenAIChatCompletionsModel(model=MODEL, openai_client=client))
        prompt = f'Weather and time in Oslo? {CALL_OSLO} [[sim:call=get_time:{{"zone": "CET"}}]]'
        try:
            if not streamed:
                return (await Runner.run(agent, prompt)).final_output
            result = Runner.run_streamed(agent, prompt)
            async for _ in result.stream_events():
                pass
            return result.final_output
        finally:
            await client.close()

    output = asyncio.run(run())
    assert sorted(used) == ["time:CET", "weather:Oslo"]
    assert "It is 21 C in Oslo." in output and "It is 14:05 in CET." in output
