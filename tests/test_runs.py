"""Runs executing against the scripted backend, through the official SDK's helpers."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from openai import AssistantEventHandler, OpenAI
from typing_extensions import override

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.transcripts import AFTER_OUTPUTS, FUNCTION_RUN, TEXT_RUN, collapse

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


def make_assistant(client: OpenAI, model: str, **options):
    return client.beta.assistants.create(model=model, **options)


def test_create_and_poll_completes_with_the_models_text(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("Paris is the capital of France.", usage=(42, 7)))
    assistant = make_assistant(client, model, instructions="Answer briefly.")
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "What is the capital of France?"}]
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    assert (run.assistant_id, run.thread_id, run.model) == (assistant.id, thread.id, model)
    assert run.instructions == "Answer briefly."
    assert run.started_at is not None and run.completed_at is not None
    assert run.expires_at is None and run.required_action is None and run.last_error is None
    assert (run.usage.prompt_tokens, run.usage.completion_tokens, run.usage.total_tokens) == (
        42,
        7,
        49,
    )

    messages = client.beta.threads.messages.list(thread.id).data
    answer = messages[0]
    assert answer.role == "assistant" and answer.status == "completed"
    assert answer.content[0].text.value == "Paris is the capital of France."
    assert (answer.run_id, answer.assistant_id) == (run.id, assistant.id)
    assert [m.id for m in client.beta.threads.messages.list(thread.id, run_id=run.id).data] == [
        answer.id
    ]

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert len(steps) == 1
    assert steps[0].type == "message_creation" and steps[0].status == "completed"
    assert steps[0].step_details.message_creation.message_id == answer.id
    assert steps[0].usage.total_tokens == 49

    # What the model was sent: the instructions, then the thread.
    sent = llm.received(model)[0]
    assert sent["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert sent["stream"] is True


def test_every_create_option_reaches_the_run_and_the_backend(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(Text('{"answer": 4}'))
    assistant = make_assistant(client, "unused-model", instructions="Assistant's own.")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "2+2?"}])
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "schema": {"type": "object", "properties": {"answer": {"type": "integer"}}},
            "strict": True,
        },
    }
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        model=model,
        instructions="Override.",
        additional_instructions="Reply in JSON.",
        additional_messages=[{"role": "user", "content": "Please.", "metadata": {"x": "1"}}],
        tools=[WEATHER, CLOCK],
        metadata={"purpose": "test"},
        temperature=0.3,
        top_p=0.8,
        max_prompt_tokens=5000,
        max_completion_tokens=3000,
        truncation_strategy={"type": "last_messages", "last_messages": 5},
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
        response_format=schema,
        reasoning_effort="low",
    )
    assert run.status == "completed"
    assert run.model == model
    assert run.instructions == "Override.\n\nReply in JSON."
    assert [t.function.name for t in run.tools] == ["get_weather", "get_time"]
    assert run.metadata == {"purpose": "test"}
    assert (run.temperature, run.top_p) == (0.3, 0.8)
    assert (run.max_prompt_tokens, run.max_completion_tokens) == (5000, 3000)
    assert run.truncation_strategy.type == "last_messages"
    assert run.truncation_strategy.last_messages == 5
    assert run.tool_choice.function.name == "get_time"
    assert run.parallel_tool_calls is False
    assert run.response_format.type == "json_schema"

    sent = llm.received(model)[0]
    assert sent["model"] == model
    assert sent["messages"][0] == {"role": "system", "content": "Override.\n\nReply in JSON."}
    assert [m["content"] for m in sent["messages"][1:]] == ["2+2?", "Please."]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    assert sent["parallel_tool_calls"] is False
    assert sent["response_format"] == schema
    assert (sent["temperature"], sent["top_p"]) == (0.3, 0.8)
    assert sent["max_tokens"] == 3000
    assert sent["reasoning_effort"] == "low"
    answer = client.beta.threads.messages.list(thread.id).data[0]
    assert json.loads(answer.content[0].text.value) == {"answer": 4}


def test_create_thread_and_run_poll(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Hi Ada."))
    assistant = make_assistant(client, model)
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={
            "messages": [{"role": "user", "content": "I am Ada."}],
            "metadata": {"t": "1"},
        },
        metadata={"r": "1"},
        instructions="Greet.",
    )
    assert run.status == "completed" and run.metadata == {"r": "1"}
    thread = client.beta.threads.retrieve(run.thread_id)
    assert thread.metadata == {"t": "1"}
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id)]
    assert texts == ["Hi Ada.", "I am Ada."]
    assert llm.received(model)[0]["messages"][0] == {"role": "system", "content": "Greet."}


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.deltas: list[str] = []

    @override
    def on_event(self, event) -> None:
        self.events.append(event.event)

    @override
    def on_text_delta(self, delta, snapshot) -> None:
        self.deltas.append(delta.value)


def test_stream_with_an_event_handler(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("One, two, three, four.", per_char=True))
    assistant = make_assistant(client, model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Count."}])
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler
    ) as stream:
        stream.until_done()
        final_run = stream.get_final_run()
        final_messages = stream.get_final_messages()
    assert final_run.status == "completed"
    assert [m.content[0].text.value for m in final_messages] == ["One, two, three, four."]
    assert "".join(handler.deltas) == "One, two, three, four."
    assert len(handler.deltas) == len("One, two, three, four.")  # forwarded as they came
    # The SDK hides the closing `done`.
    assert collapse(handler.events) == TEXT_RUN[:-1]
    steps = client.beta.threads.runs.steps.list(final_run.id, thread_id=thread.id).data
    assert [s.status for s in steps] == ["completed"]


def test_function_call_pauses_then_completes(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Paris"}')]),
        Text("It is sunny in Paris."),
    )
    assistant = make_assistant(client, model, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    assert run.usage is None  # shown once the run ends
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert len(calls) == 1 and calls[0].id.startswith("call_")
    assert (calls[0].function.name, json.loads(calls[0].function.arguments)) == (
        "get_weather",
        {"city": "Paris"},
    )
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [(s.type, s.status) for s in steps] == [("tool_calls", "in_progress")]
    assert steps[0].usage is None
    assert steps[0].step_details.tool_calls[0].function.output is None

    # A new message may not join the thread while the run waits.
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.messages.create(thread.id, role="user", content="hello?")
    assert error.value.body["message"] == (
        f"Can't add messages to {thread.id} while a run {run.id} is active."
    )

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": calls[0].id, "output": "22C and sunny"}],
    )
    assert done.status == "completed" and done.required_action is None
    assert done.usage.total_tokens == 45 + 30
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert [(s.type, s.status) for s in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    assert steps[0].step_details.tool_calls[0].function.output == "22C and sunny"
    assert steps[0].usage.total_tokens == 45
    assert sum(s.usage.total_tokens for s in steps) == done.usage.total_tokens

    # The second model call saw the call and its output (no `content` key beside the calls:
    # some servers refuse null there).
    second = llm.received(model)[1]["messages"]
    assert second[-2] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": calls[0].id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert second[-1] == {"role": "tool", "tool_call_id": calls[0].id, "content": "22C and sunny"}
    answer = client.beta.threads.messages.list(thread.id).data[0]
    assert answer.content[0].text.value == "It is sunny in Paris."


def test_several_calls_and_parallel_tool_calls_false(client: OpenAI, llm: ScriptedBackend) -> None:
    both = [("get_weather", '{"city": "Oslo"}'), ("get_time", "{}")]
    model = llm.model(ToolCalls(both), ToolCalls(both))
    assistant = make_assistant(client, model, tools=[WEATHER, CLOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Both?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    names = [c.function.name for c in run.required_action.submit_tool_outputs.tool_calls]
    assert names == ["get_weather", "get_time"]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)

    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Both?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, parallel_tool_calls=False
    )
    assert [c.function.name for c in run.required_action.submit_tool_outputs.tool_calls] == [
        "get_weather"
    ]


def test_submit_tool_outputs_stream(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(ToolCalls([("get_time", "{}")], text_before="Let me check. "), Text("Noon."))
    assistant = make_assistant(client, model, tools=[CLOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Time?"}])
    first = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=first
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
    assert run.status == "requires_action"
    assert first.events.count("thread.run.step.delta") >= 2
    # Text first (its own message step), then the tool step.
    assert collapse(first.events) == [*TEXT_RUN[:-2], *FUNCTION_RUN[3:-1]]
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "12:00"}],
        event_handler=second,
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
        messages = stream.get_final_messages()
    assert final.status == "completed"
    assert [m.content[0].text.value for m in messages] == ["Noon."]
    assert collapse(second.events) == AFTER_OUTPUTS[:-1]
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id)]
    assert texts == ["Noon.", "Let me check. ", "Time?"]


def test_poll_header_on_run_reads(client: OpenAI, http: httpx.Client, llm: ScriptedBackend) -> None:
    model = llm.model(Text("ok"))
    assistant = make_assistant(client, model)
    thread = client.beta.threads.create()
    created = http.post(f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id})
    assert created.headers["openai-poll-after-ms"] == "10"
    read = http.get(f"/threads/{thread.id}/runs/{created.json()['id']}")
    assert read.headers["openai-poll-after-ms"] == "10"


def test_required_tool_choice_holds_until_a_call_was_made(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(ToolCalls([("get_time", "{}")]), Text("It is noon."))
    assistant = make_assistant(client, model, tools=[CLOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Time?"}])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, tool_choice="required"
    )
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "12"}]
    )
    assert run.status == "completed" and run.tool_choice == "required"
    first, second = llm.received(model)
    assert (first["tool_choice"], second["tool_choice"]) == ("required", "auto")
