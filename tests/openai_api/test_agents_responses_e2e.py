"""End to end: the OpenAI Agents SDK (its default OpenAIResponsesModel) runs a two-tool agent through gempool."""
from __future__ import annotations

import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool
from openai import AsyncOpenAI

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("catalogue")]
MODEL = "gemini-2.5-flash"
PROMPT = ('[[sim:call=get_weather:{"city": "Oslo"}]] [[sim:call=get_time:{"zone": "CET"}]] '
          "What is the weather in Oslo, and what time is it there?")


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


@function_tool
def get_time(zone: str) -> str:
    """The time in a time zone."""
    return f"12:00 {zone}"


def _agent(gateway, raw_key: str) -> Agent:
    client = AsyncOpenAI(api_key=raw_key, base_url=gateway.url + "/v1", max_retries=0)
    return Agent(name="assistant", instructions="Use the tools.", tools=[get_weather, get_time],
                 model=OpenAIResponsesModel(model=MODEL, openai_client=client))


def _config() -> RunConfig:
    return RunConfig(tracing_disabled=True)  # traces would go to OpenAI: never leave loopback


def test_an_agent_with_two_tools_runs_to_completion(gateway, api_key, pool_account):
    pool_account()
    result = Runner.run_sync(_agent(gateway, api_key[1]), PROMPT, run_config=_config())
    kinds = [item.type for item in result.new_items]
    assert kinds.count("tool_call_item") == 2 and kinds.count("tool_call_output_item") == 2
    assert kinds[-1] == "message_output_item"
    assert "Sunny in Oslo" in result.final_output and "12:00 CET" in result.final_output


async def _streamed(agent: Agent) -> tuple[list[str], str]:
    run = Runner.run_streamed(agent, PROMPT, run_config=_config())
    kinds = [event.item.type async for event in run.stream_events() if event.type == "run_item_stream_event"]
    return kinds, run.final_output


def test_a_streamed_agent_run_completes_too(gateway, api_key, pool_account):
    import asyncio

    pool_account()
    kinds, final = asyncio.run(_streamed(_agent(gateway, api_key[1])))
    assert kinds.count("tool_call_item") == 2 and kinds.count("tool_call_output_item") == 2
    assert "Sunny in Oslo" in final and "12:00 CET" in final
