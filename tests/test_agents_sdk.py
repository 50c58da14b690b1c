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


def test_an_agent_with_the_built_in_tools(
    server: Server, api_key: str, llm: ScriptedBackend
) -> None:
    """`FileSearchTool` and `CodeInterpreterTool` are hosted tools: the SDK sends them as a
    response's tools and reads back their call items, which Threadline ran itself."""
    from agents import CodeInterpreterTool, FileSearchTool
    from openai import OpenAI

    with OpenAI(base_url=server.base_url, api_key=api_key) as sync:
        notes = sync.files.create(
            file=("notes.md", b"The launch is on 12 May."), purpose="assistants"
        )
        store = sync.vector_stores.create(name="notes")
        sync.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=notes.id)
    code = json.dumps({"code": "print(12 * 31)"})
    model = llm.model(
        ToolCalls([("file_search", '{"query": "launch date"}')]),
        ToolCalls([("code_interpreter", code)]),
        Text("The launch is on 12 May 【0†notes.md】; 12 * 31 is 372."),
    )
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=server.base_url, api_key=api_key, max_retries=0)
    agent = Agent(
        name="Researcher",
        instructions="Search, then compute.",
        tools=[
            FileSearchTool(vector_store_ids=[store.id], include_search_results=True),
            CodeInterpreterTool(
                tool_config={"type": "code_interpreter", "container": {"type": "auto"}}
            ),
        ],
        model=OpenAIResponsesModel(model=model, openai_client=client),
    )

    async def run():
        try:
            return await Runner.run(agent, "When is the launch, and what is 12 * 31?")
        finally:
            await client.close()

    result = asyncio.run(run())
    assert result.final_output == "The launch is on 12 May 【0†notes.md】; 12 * 31 is 372."
    kinds = [item.raw_item.type for item in result.new_items if hasattr(item.raw_item, "type")]
    assert "file_search_call" in kinds and "code_interpreter_call" in kinds
    # The model read the search's results and the code's output.
    last = llm.received(model)[-1]["messages"]
    tool_outputs = [m["content"] for m in last if m["role"] == "tool"]
    assert any("12 May" in text for text in tool_outputs)
    assert any("372" in text for text in tool_outputs)
