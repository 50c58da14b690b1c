"""Real OpenAI-compatible servers' departures from the wire, met in one place
(backends/openai_http.py); each scripted as the server that has it sends it."""

from __future__ import annotations

import json
import random
import string

import pytest
from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import RejectNullContent, ScriptedBackend, Text, ToolCalls
from tests.support.store import create_key

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
STOCK = {"type": "function", "function": {"name": "get_stock", "parameters": {"type": "object"}}}


def paused_run(client: OpenAI, model: str):
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER, STOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action", run.last_error
    return run


@pytest.mark.parametrize(
    "quirk", [{"repeat_heads": True}, {"whole": True}, {"finish": "function_call"}]
)
def test_calls_read_the_same_whatever_the_server(
    client: OpenAI, llm: ScriptedBackend, quirk: dict
) -> None:
    """llama.cpp's server repeats each call's id and name in every delta; others send a
    call whole in one delta, or finish with the older `function_call`."""
    calls = [("get_weather", '{"city": "Paris"}'), ("get_stock", '{"symbol": "ACME"}')]
    run = paused_run(client, llm.model(ToolCalls(calls, **quirk)))
    made = run.required_action.submit_tool_outputs.tool_calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in made] == [
        ("get_weather", {"city": "Paris"}),
        ("get_stock", {"symbol": "ACME"}),
    ]
    assert len({c.id for c in made}) == 2 and all(c.id.startswith("call_") for c in made)


def test_a_server_that_refuses_null_content_gets_none(client: OpenAI, llm: ScriptedBackend) -> None:
    """llama-cpp-python's server answers `"content": null` on the assistant's tool-call
    message with a validation error; the key is left out, as the spec allows."""
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Oslo"}')]), RejectNullContent(Text("Cold."))
    )
    run = paused_run(client, model)
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "-5C"}],
    )
    assert done.status == "completed", done.last_error
    sent = llm.received(model)[-1]["messages"]
    assistant = next(m for m in sent if m.get("tool_calls"))
    assert "content" not in assistant


def test_a_finish_reason_the_spec_lacks_reads_as_stop(client: OpenAI, llm: ScriptedBackend) -> None:
    assistant = client.beta.assistants.create(model=llm.model(Text("Done here.", finish="eos")))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.content[0].text.value == "Done here." and message.status == "completed"


def test_a_call_to_a_function_the_run_does_not_offer_fails_the_run(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """Never `requires_action` for a function the client cannot know: the run fails, saying
    which name the model wrote and which the run offers."""
    model = llm.model(ToolCalls([("get_weatherget_weather", '{"city": "Paris"}')]))
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER, STOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed" and run.required_action is None
    assert run.last_error.code == "server_error"
    assert run.last_error.message == (
        "The model called 'get_weatherget_weather', which this run does not offer "
        "(its functions: get_stock, get_weather)."
    )
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert all(step.status != "in_progress" for step in steps)


def test_without_usage_in_the_stream_completion_tokens_are_the_fragments_streamed(
    spawn: ServerFactory, llm: ScriptedBackend
) -> None:
    """llama-cpp-python's server sends no usage in streams: the completion is counted by the
    fragments it streamed (about a token each), never above the bound that cut the reply,
    and logged as an estimate."""
    server = spawn(extra_args=["--log-level", "info"])
    with make_client(server, create_key(server.database_url, "usage")) as client:
        plain = llm.model(Text("One two three four five.", chunks=5, usage=None))
        assistant = client.beta.assistants.create(model=plain)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Count"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed" and run.usage.completion_tokens == 5
        assert run.usage.prompt_tokens > 0
        # 300 characters that never repeat as a loop would (a loop is cut sooner).
        words = "".join(random.Random(7).choices(string.ascii_letters, k=300))
        cut = llm.model(Text(words, per_char=True, finish="length", usage=None))
        assistant = client.beta.assistants.create(model=cut)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go on"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=256
        )
        assert run.status == "incomplete" and run.usage.completion_tokens == 256
    assert f"run {run.id}: the backend reported no usage; estimated" in server.log()


def test_a_reply_stuck_in_a_loop_is_cut(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    """Qwen2.5 0.5B on llama.cpp's server writes its call again and again after a tool
    result, until the context is full: the loop is cut as the embedded model's is, the run
    ends incomplete, and what was streamed is what is kept."""
    server = spawn()
    with make_client(server, create_key(server.database_url, "loop")) as client:
        line = '{"name": "get_weather", "arguments": {"city": "Paris"}}\n'
        model = llm.model(Text("It is sunny. " + line * 60, per_char=True, usage=None))
        assistant = client.beta.assistants.create(model=model)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "incomplete", run.last_error
        assert run.incomplete_details.reason == "max_completion_tokens"
        text = client.beta.threads.messages.list(thread.id).data[0].content[0].text.value
        # Cut once the last 128 fragments were one line over again: two lines and more,
        # far short of the sixty sent.
        assert text.startswith("It is sunny. " + line * 2) and len(text) < len(line) * 5
        assert 128 <= run.usage.completion_tokens < len(line) * 5
    assert "backend reply cut: its last" in server.log()


def test_a_call_cut_off_mid_arguments_is_not_written_again(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """The rule for text holds for a call's arguments: once part of them was streamed, a
    fault fails the run instead of splicing a new attempt's call onto it."""
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Paris"}')], drop_after=1),
        ToolCalls([("get_stock", '{"symbol": "ACME"}')]),
    )
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER, STOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed" and run.required_action is None
    assert "after part of the answer had been streamed" in run.last_error.message
    (step,) = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.status == "failed"
    assert len(llm.received(model)) == 1
