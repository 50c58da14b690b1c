"""A real agent framework on the Responses API: the OpenAI Agents SDK (`openai-agents`)
runs an agent with two function tools against Threadline, unchanged but for its client's
base URL. The scripted backend plays the model: both calls in one turn, then the answer."""

from __future__ import annotations

import asyncio
import json

from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server

called: list[tuple[str, str]] = []


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    called.append(("get_weather", city))
    return f"22C and sunny in {city}"


@function_tool
def get_time(zone: str) -> str:
    """The time in a time zone."""
    called.append(("get_time", zone))
    return f"14:00 in {zone}"


def test_an_agent_with_two_tools(server: Server, api_key: str, llm: ScriptedBackend) -> None:
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Paris"}'), ("get_time", '{"zone": "CET"}')]),
        Text("In Paris it is 22C and sunny, and 14:00."),
    )
    called.clear()  # the tools are module-level: once per store
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)
    agent = Agent(
        name="Helper",
        instructions="Answer with the tools.",
        tools=[get_weather, get_time],
        model=OpenAIResponsesModel(model=model, openai_client=client),
    )

    async def run():
        try:
            return await Runner.run(agent, "Weather and time in Paris?")
        finally:
            await client.close()

    result = asyncio.run(run())
    assert result.final_output == "In Paris it is 22C and sunny, and 14:00."
    assert called == [("get_weather", "Paris"), ("get_time", "CET")]
    second = llm.received(model)[1]["messages"]
    outputs = {m["tool_call_id"]: m["content"] for m in second if m["role"] == "tool"}
    assert sorted(outputs.values()) == ["14:00 in CET", "22C and sunny in Paris"]
    assert {"role": "system", "content": "Answer with the tools."} in second
    calls = next(m for m in second if m.get("tool_calls"))["tool_calls"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"},
        {"zone": "CET"},
    ]
