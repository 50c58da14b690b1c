"""Backend faults: retried with backoff, then the run fails with the right code. The client
never sees a 5xx for a backend's fault."""

from __future__ import annotations

from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import Drop, Fail, Hang, Malformed, ScriptedBackend, Text
from tests.support.server import Server


def run_with(client: OpenAI, model: str):
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    return run, thread


def answer(client: OpenAI, thread_id: str) -> str:
    return client.beta.threads.messages.list(thread_id).data[0].content[0].text.value


def test_rate_limit_then_success(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Fail(429), Fail(429, retry_after=0.05), Text("Recovered."))
    run, thread = run_with(client, model)
    assert run.status == "completed"
    assert answer(client, thread.id) == "Recovered."
    assert len(llm.received(model)) == 3


def test_rate_limit_that_persists(client: OpenAI, llm: ScriptedBackend, server: Server) -> None:
    model = llm.model(always=Fail(429, "slow down"))
    run, thread = run_with(client, model)
    assert run.status == "failed"
    assert run.last_error.code == "rate_limit_exceeded"
    # In Threadline's words with the backend's status; the backend's own, in the log only.
    assert run.last_error.message == "The model backend is rate limiting (429)."
    assert "slow down" in server.log()
    assert len(llm.received(model)) == 4  # the configured attempts
    assert client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data == []
    # The thread is usable again.
    client.beta.threads.messages.create(thread.id, role="user", content="again")


def test_server_errors_then_success(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Fail(500), Fail(503), Text("Fine now."))
    run, thread = run_with(client, model)
    assert run.status == "completed" and answer(client, thread.id) == "Fine now."


def test_server_errors_that_persist(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(always=Fail(502))
    run, _ = run_with(client, model)
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert run.failed_at is not None and run.usage is not None


def test_a_rejected_prompt_is_not_retried(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Fail(400, "context length exceeded"), Text("never"))
    run, _ = run_with(client, model)
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert run.last_error.message == (
        "The model backend refused the request (400): the conversation is longer than the "
        "model's context window; use a truncation_strategy or a model with a larger context."
    )
    assert len(llm.received(model)) == 1


def test_a_server_error_that_says_the_request_was_wrong_is_not_retried(
    client: OpenAI, llm: ScriptedBackend, server: Server
) -> None:
    """llama-cpp-python answers its own validation errors with a 500, a traceback line and
    its file paths: one attempt, and none of it reaches the client."""
    raw = (
        'File "/srv/llama_cpp/server/app.py", line 512: 1 validation error for '
        "CreateChatCompletionRequest"
    )
    model = llm.model(Fail(500, raw), Text("never"))
    run, _ = run_with(client, model)
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert run.last_error.message == (
        "The model backend refused the request (500) (its reason is in Threadline's log)."
    )
    assert "/srv/" not in run.last_error.message and raw in server.log()
    assert len(llm.received(model)) == 1


def test_a_response_format_the_backend_lacks_fails_once_naming_the_change(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """A server without json_schema (through a proxy that answers 500): one attempt, and the
    message says what to ask for instead."""
    model = llm.model(Fail(500, "response_format json_schema is not supported"), Text("never"))
    assistant = client.beta.assistants.create(
        model=model,
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    )
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "failed" and run.last_error.code == "invalid_prompt"
    assert '{"type": "json_object"}' in run.last_error.message
    assert len(llm.received(model)) == 1


def test_malformed_stream_is_retried(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Malformed(), Text("Clean answer."))
    run, thread = run_with(client, model)
    assert run.status == "completed" and answer(client, thread.id) == "Clean answer."


def test_a_stream_dropped_before_any_text_is_retried(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Drop("never seen", after=0), Text("Clean answer.", chunks=3))
    run, thread = run_with(client, model)
    assert run.status == "completed" and answer(client, thread.id) == "Clean answer."
    assert len(llm.received(model)) == 2


def test_a_stream_dropped_mid_answer_is_not_spliced_with_a_new_one(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """The backend restarted mid-answer, and a new attempt would sample another start
    ("As a young child,ote village..."): no retry. What the client was streamed is what is
    stored, ended incomplete, and the run says why."""
    first = "As a young child, she lived by the sea."
    model = llm.model(Drop(first, after=3, chunks=6), Text("One day, in a remote village."))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "A story"}])
    streamed = ""
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        for event in stream:
            if event.event == "thread.message.delta":
                streamed += "".join(p.text.value or "" for p in event.data.delta.content or [])
    run = client.beta.threads.runs.retrieve(stream.current_run.id, thread_id=thread.id)
    assert run.status == "failed" and run.last_error.code == "server_error"
    assert "after part of the answer had been streamed" in run.last_error.message
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert streamed and first.startswith(streamed)
    assert message.content[0].text.value == streamed
    assert len(llm.received(model)) == 1
    # The three fragments the backend generated count (it sent no usage before it went).
    assert run.usage.completion_tokens == 3 and run.usage.prompt_tokens > 0


def test_dropped_streams_that_persist_fail_the_message(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(always=Drop("partial text here", after=2))
    run, thread = run_with(client, model)
    assert run.status == "failed" and run.last_error.code == "server_error"
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "failed" and step.last_error.code == "server_error"
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "run_failed"
    # It keeps the text streamed before the failure.
    assert message.content[0].text.value
    assert "partial text here".startswith(message.content[0].text.value)


def test_slow_replies_wait(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("worth the wait", first_delay=1.0, chunk_delay=0.1))
    run, thread = run_with(client, model)
    assert run.status == "completed" and answer(client, thread.id) == "worth the wait"


def test_timeouts_are_retried_then_fail(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn({"THREADLINE_LLM_READ_TIMEOUT": "0.5", "THREADLINE_LLM_MAX_ATTEMPTS": "2"})
    with make_client(server, "local") as client:
        model = llm.model(Hang(2, then=Text("late")), Text("on time"))
        run, thread = run_with(client, model)
        assert run.status == "completed" and answer(client, thread.id) == "on time"
        model = llm.model(always=Hang(2, then=Text("late")))
        run, _ = run_with(client, model)
        assert run.status == "failed" and run.last_error.code == "server_error"
        assert "timed out" in run.last_error.message


def test_no_backend_for_the_model(spawn: ServerFactory) -> None:
    server = spawn(with_llm=False)
    with make_client(server, "local") as client:
        run, _ = run_with(client, "gpt-4o")
        assert run.status == "failed" and run.last_error.code == "server_error"
        assert "No backend serves the model 'gpt-4o'" in run.last_error.message
