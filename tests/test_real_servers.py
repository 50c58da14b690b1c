"""Threadline on real OpenAI-compatible model servers, as a user points it at them: llama.cpp's
own server and llama-cpp-python's, each in a subprocess on the packaged model's GGUF.

Their ways differ from the spec and from each other (usage in streams or not, `content: null`
refused, names repeated in deltas: `backends/openai_http.py`); each flow here must work on
both, with the official SDK in strict mode. The scripted backend has a switch per quirk for
the fast tests (`test_backend_quirks.py`); these show the quirks are the real ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import make_client
from tests.support.model_servers import WEATHER, ModelServer
from tests.support.server import Server

ESSAY = "Write a long essay about the history of Rome, with many details."


@pytest.fixture(scope="module", params=["llama.cpp", "llama-cpp-python"])
def model_server(request: pytest.FixtureRequest, model_file: Path) -> Iterator[ModelServer]:
    server = ModelServer(request.param, model_file).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def threadline(
    model_server: ModelServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("real-server")
    server = Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 't.db'}",
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": model_server.base_url, "THREADLINE_POLL_AFTER_MS": "20"},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def client(threadline: Server) -> Iterator[OpenAI]:
    with make_client(threadline, "local") as sdk:
        yield sdk


def assistant(client: OpenAI, **options):
    return client.beta.assistants.create(
        model="local", instructions="Answer briefly.", temperature=0, **options
    )


def thread_with(client: OpenAI, text: str):
    return client.beta.threads.create(messages=[{"role": "user", "content": text}])


def stored_text(client: OpenAI, thread_id: str) -> str:
    message = client.beta.threads.messages.list(thread_id).data[0]
    return "".join(part.text.value for part in message.content if part.type == "text")


def delta_text(event) -> str:
    return "".join(part.text.value or "" for part in event.data.delta.content or [])


def streamed_run(client: OpenAI, text: str, on_delta=None):
    """A streamed run on a new thread: (its thread, the run as it ended, the text its deltas
    carried). `on_delta(run_id, thread_id, text so far, deltas so far)` after each delta."""
    thread = thread_with(client, text)
    streamed, deltas = "", 0
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant(client).id
    ) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                streamed += delta_text(event)
                deltas += 1
                if on_delta is not None:
                    on_delta(stream.current_run.id, thread.id, streamed, deltas)
    run = client.beta.threads.runs.retrieve(stream.current_run.id, thread_id=thread.id)
    return thread, run, streamed, deltas


def test_a_plain_run(client: OpenAI) -> None:
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant(client).id,
        thread={"messages": [{"role": "user", "content": "What is the capital of France?"}]},
    )
    assert run.status == "completed", run.last_error
    assert "Paris" in stored_text(client, run.thread_id)
    assert run.usage.prompt_tokens > 10 and 0 < run.usage.completion_tokens < 200


def test_a_stream_is_the_stored_message(client: OpenAI) -> None:
    thread, run, streamed, _ = streamed_run(client, "Write two sentences about the sea.")
    assert run.status == "completed"
    assert streamed and stored_text(client, thread.id) == streamed


# After the tool result, greedy: llama-cpp-python's server gives the model no tools in its
# prompt and it answers; llama.cpp's renders Qwen's own tool prompt, in which the 0.5B model
# writes its call again, line after line (the embedded backend restates calls in words for
# this reason: `tool_prompt.py`). The loop is cut, and the run ends incomplete at once
# rather than after the whole context (three minutes here).
AFTER_THE_RESULT = {"llama-cpp-python": "completed", "llama.cpp": "incomplete"}


def test_a_function_round_trip(client: OpenAI, model_server: ModelServer) -> None:
    """The server repeats the call's name in every delta (both servers); the history sent
    back with the outputs must be one the server takes (llama-cpp-python's refuses
    `content: null`)."""
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant(client, tools=[WEATHER]).id,
        thread={"messages": [{"role": "user", "content": "What is the weather in Paris?"}]},
    )
    assert run.status == "requires_action", run.last_error
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "22 degrees celsius and sunny"}],
    )
    assert done.last_error is None
    assert done.status == AFTER_THE_RESULT[model_server.name]
    if done.status == "completed":
        assert "22" in stored_text(client, run.thread_id)
    else:
        assert done.incomplete_details.reason == "max_completion_tokens"
        assert done.usage.completion_tokens < 1000


def test_a_bound_ends_the_run_incomplete(client: OpenAI) -> None:
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant(client).id,
        thread={"messages": [{"role": "user", "content": ESSAY}]},
        max_completion_tokens=256,
    )
    assert run.status == "incomplete", run.last_error
    assert run.incomplete_details.reason == "max_completion_tokens"
    # The server's count, or the fragments streamed: never above the bound that cut it.
    assert 0 < run.usage.completion_tokens <= 256
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.status == "incomplete" and message.content[0].text.value


def test_cancel_mid_answer(client: OpenAI) -> None:

    def cancel_at_third(run_id: str, thread_id: str, streamed: str, deltas: int) -> None:
        if deltas == 3:
            client.beta.threads.runs.cancel(run_id, thread_id=thread_id)

    thread, run, streamed, deltas = streamed_run(client, ESSAY, cancel_at_third)
    assert run.status == "cancelled"
    assert stored_text(client, thread.id) == streamed
    # What the server generated before the cancel counts, though no usage came.
    assert run.usage.completion_tokens >= deltas
    # The server is free again at once (the cancelled generation was stopped, not awaited).
    started = time.monotonic()
    after = client.beta.threads.create_and_run_poll(
        assistant_id=assistant(client).id,
        thread={"messages": [{"role": "user", "content": "Say hello."}]},
    )
    assert after.status == "completed", after.last_error
    assert time.monotonic() - started < 30


def test_the_server_restarted_mid_stream(client: OpenAI, model_server: ModelServer) -> None:
    """The server is killed and back on its port after the client has part of an answer: a
    retry would sample another start, spliced to what the client read. The run fails
    saying so; the stored message is what the client was streamed; the next run works."""
    restarted = []

    def restart_once(run_id: str, thread_id: str, streamed: str, deltas: int) -> None:
        if not restarted and len(streamed) > 20:
            model_server.restart()
            restarted.append(True)

    thread, run, streamed, _ = streamed_run(client, ESSAY, restart_once)
    assert run.status == "failed", run.status
    assert "after part of the answer had been streamed" in run.last_error.message
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert stored_text(client, thread.id) == streamed
    after = client.beta.threads.create_and_run_poll(
        assistant_id=assistant(client).id,
        thread={"messages": [{"role": "user", "content": "Say hello."}]},
    )
    assert after.status == "completed", after.last_error
