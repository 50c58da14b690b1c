"""Backend faults: retried with backoff, then the run fails with the right code. The client
never sees a 5xx for a backend's fault."""

from __future__ import annotations

from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import Drop, Fail, Hang, Malformed, ScriptedBackend, Text


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


def test_rate_limit_that_persists(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(always=Fail(429, "slow down"))
    run, thread = run_with(client, model)
    assert run.status == "failed"
    assert run.last_error.code == "rate_limit_exceeded"
    assert "slow down" in run.last_error.message
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
    assert "context length exceeded" in run.last_error.message
    assert len(llm.received(model)) == 1


def test_malformed_stream_is_retried(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Malformed(), Text("Clean answer."))
    run, thread = run_with(client, model)
    assert run.status == "completed" and answer(client, thread.id) == "Clean answer."


def test_dropped_stream_mid_answer_is_retried(client: OpenAI, llm: ScriptedBackend) -> None:
    text = "The same deterministic answer, twice over."
    model = llm.model(Drop(text, after=3), Text(text, chunks=5))
    run, thread = run_with(client, model)
    assert run.status == "completed"
    assert answer(client, thread.id) == text
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [(s.type, s.status) for s in steps] == [("message_creation", "completed")]


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
