"""Tool calls written as text, on real model outputs of each format."""

from __future__ import annotations

import json

from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text
from threadline.backends.tool_parsing import (
    CallWatch,
    TextToolCalls,
    kept,
    parse,
    required_arguments,
)

TOOLS = {"get_weather", "get_time"}

# Recorded from Qwen2.5-Coder-0.5B-Instruct (the embedded model) answering tool requests
# under its own chat template, at temperature 0 and 0.7.
QWEN_FENCED = (
    '```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Paris"\n  }\n}\n```'
)
QWEN_BARE = '{"name": "get_weather", "arguments": {"city": "Tokyo"}}'
# The same model given Llama 3.1's `<function=...>` instructions: no closing tag.
QWEN_FUNCTION_TAG = '<function=get_weather>{"city": "Madrid"}'
# Hermes-2-Pro's answer as NousResearch's Hermes-Function-Calling documents it.
HERMES = '<tool_call>\n{"arguments": {"city": "Oslo"}, "name": "get_weather"}\n</tool_call>'
HERMES_TWO = (
    "I'll look both up.\n"
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_time", "arguments": {"timezone": "Europe/Paris"}}\n</tool_call>'
)


def calls(text: str) -> list[tuple[str, dict]]:
    return [(call.name, json.loads(call.arguments)) for call in parse(text, TOOLS)[1]]


def test_each_format() -> None:
    assert calls(QWEN_FENCED) == [("get_weather", {"city": "Paris"})]
    assert calls(QWEN_BARE) == [("get_weather", {"city": "Tokyo"})]
    assert calls(QWEN_FUNCTION_TAG) == [("get_weather", {"city": "Madrid"})]
    assert calls(HERMES) == [("get_weather", {"city": "Oslo"})]
    rest, found = parse(HERMES_TWO, TOOLS)
    assert [c.name for c in found] == ["get_weather", "get_time"]
    assert rest == "I'll look both up."


def test_only_offered_tools_and_real_json() -> None:
    assert parse(QWEN_BARE, {"get_time"}) == (QWEN_BARE, [])
    assert calls('{"name": "Cat Joke", "arguments": {"cat": "Meow"}}') == []
    broken = '<tool_call>\n{"name": "get_weather", "arguments": {"city": \n</tool_call>'
    assert calls(broken) == []
    code = "Here is an example:\n```python\nprint('hello')\n```\nRun it."
    assert parse(code, TOOLS) == (code, [])
    assert calls('[{"name": "get_time", "parameters": {"timezone": "UTC"}}]') == [
        ("get_time", {"timezone": "UTC"})
    ]


def stream(text: str, pieces: int = 3) -> tuple[str, list]:
    watcher = TextToolCalls(TOOLS)
    size = max(1, len(text) // pieces)
    forwarded = "".join(watcher.feed(text[i : i + size]) for i in range(0, len(text), size))
    rest, found = watcher.finish()
    return forwarded + rest, found


def test_streaming_holds_back_only_what_may_be_a_call() -> None:
    text, found = stream("The capital of France is Paris. It has 2 million people.")
    assert found == [] and text == "The capital of France is Paris. It has 2 million people."
    watcher = TextToolCalls(TOOLS)
    assert watcher.feed("Sure, one moment. <tool") == "Sure, one moment. "
    assert watcher.feed('_call>\n{"name": "get_time", "arguments": {}}') == ""
    assert watcher.feed("\n</tool_call>") == ""
    assert watcher.finish() == ("", parse('<tool_call>{"name": "get_time", "arguments": {}}'
                                          "</tool_call>", TOOLS)[1])  # fmt: skip
    for transcript in (QWEN_FENCED, QWEN_BARE, QWEN_FUNCTION_TAG, HERMES):
        text, found = stream(transcript, pieces=7)
        assert len(found) == 1 and text.strip() == ""


def test_text_tool_calls_through_an_http_backend(client: OpenAI, llm: ScriptedBackend) -> None:
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}}
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": parameters}}
    model = llm.model(Text(QWEN_FENCED, chunks=9), Text("Sunny in Paris."))
    assistant = client.beta.assistants.create(model=model, tools=[tool])
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Weather?"}]}
    )
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
    assert [s.type for s in steps] == ["tool_calls"]  # no message made of the call's text
    # Code in an answer is not a call: it arrives whole, as text.
    code = 'Use this:\n```json\n{"city": "Paris"}\n```'
    model = llm.model(Text(code, chunks=6))
    assistant = client.beta.assistants.create(model=model, tools=[tool])
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Show"}]}
    )
    assert run.status == "completed"
    answer = client.beta.threads.messages.list(run.thread_id).data[0]
    assert answer.content[0].text.value == code


# Recorded from the 0.5B under the calls grammar: offered a stock price function for "How
# much is one share of Microsoft (ticker MSFT) right now?", and the weather for "What is the
# weather like in Rome today?".
REPEATED = (
    '<tool_call>\n{"name": "get_stock_price", "arguments": {"symbol": "MSFT"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_stock_price", "arguments": {"symbol": "msft "}}\n</tool_call>\n'
    '<tool_call>\n{"name": "get_stock_price", "arguments": {"symbol": "MSFT"}}\n</tool_call>'
)
STRAYING = "\n".join(
    f'<tool_call>\n{{"name": "get_weather", "arguments": {{"city": "{city}"}}}}\n</tool_call>'
    for city in ("Rome", "London", "Paris")
)
OFFERED = [
    {"type": "function", "function": {"name": "get_stock_price",
     "parameters": {"type": "object", "required": ["symbol"]}}},
    {"type": "function", "function": {"name": "get_weather",
     "parameters": {"type": "object", "required": ["city"]}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]  # fmt: skip
NAMES = {"get_stock_price", "get_weather", "get_time"}


def kept_calls(text: str, request: str) -> list[tuple[str, dict]]:
    found = parse(text, NAMES)[1]
    return [
        (call.name, json.loads(call.arguments))
        for call in kept(found, required_arguments(OFFERED), request)
    ]


def test_the_calls_end_at_one_asking_again_what_one_before_asked() -> None:
    request = "How much is one share of Microsoft (ticker MSFT) right now?"
    assert kept_calls(REPEATED, request) == [("get_stock_price", {"symbol": "MSFT"})]


def test_the_calls_end_at_a_later_one_about_what_nobody_asked() -> None:
    assert kept_calls(STRAYING, "What is the weather like in Rome today?") == [
        ("get_weather", {"city": "Rome"})
    ]
    asked = "What's the weather in Rome, in London and in Paris?"
    assert [call[1]["city"] for call in kept_calls(STRAYING, asked)] == ["Rome", "London", "Paris"]
    # Numbers count as mentioned too; a function with no required argument is judged by all.
    two = (
        '<tool_call>\n{"name": "get_time", "arguments": {"minutes": 10}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {"minutes": 5}}\n</tool_call>'
    )
    assert len(kept_calls(two, "Timers of 10 and 5 minutes")) == 2
    assert len(kept_calls(two, "A timer of 10 minutes")) == 1


def test_the_calls_stop_as_they_are_written_at_the_first_stray() -> None:
    watch = CallWatch(OFFERED, "What is the weather like in Rome today?")
    first, second, _ = STRAYING.split("\n<tool_call>")
    assert watch.strayed(first) is False
    assert watch.strayed("\n<tool_call>" + second) is True
