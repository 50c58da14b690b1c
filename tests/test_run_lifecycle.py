"""The run state machine: one active run per thread, cancel, expiry, tool-output rules."""

from __future__ import annotations

import time

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import store
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.test_runs import CLOCK, WEATHER


def wait_for(client: OpenAI, thread_id: str, run_id: str, *statuses: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in statuses:
            return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} is {run.status}, not {statuses}")


def paused_run(client: OpenAI, llm: ScriptedBackend, *replies):
    model = llm.model(ToolCalls([("get_weather", '{"city": "Rome"}')]), *replies)
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    return assistant, thread, run


def make_overdue(server: Server, run_id: str) -> None:
    """Move a run's expiry into the past, as ten minutes of waiting would."""

    async def overdue(db) -> None:
        async with db.write() as session:
            (await session.get(store.Run, run_id)).expires_at = int(time.time()) - 1

    store.with_db(server.database_url, overdue)


def test_one_active_run_per_thread(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("slow", first_delay=1.5), Text("second"))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    first = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert error.value.body["message"] == (
        f"Thread {thread.id} already has an active run {first.id}."
    )
    wait_for(client, thread.id, first.id, "completed")
    second = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id
    )
    assert second.status == "completed"
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [second.id, first.id]


def test_cancel_while_the_model_is_answering(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("partial answer that never ends", per_char=True, chunk_delay=0.2))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Talk."}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    # Wait until the message has begun.
    deadline = time.monotonic() + 10
    while not client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    started = time.monotonic()
    cancelling = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelling.status == "cancelling"
    cancelled = wait_for(client, thread.id, run.id, "cancelled")
    # The backend call in flight was abandoned, not waited out (the reply takes 6 s).
    assert time.monotonic() - started < 3
    assert cancelled.cancelled_at is not None and cancelled.completed_at is None
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled" and step.cancelled_at is not None
    message = client.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "run_cancelled"
    # What was streamed before the cancel is kept, and counted: the backend generated it
    # (one character a fragment here), though no usage came.
    kept = message.content[0].text.value
    assert "partial answer that never ends".startswith(kept)
    assert cancelled.usage.prompt_tokens > 0
    assert len(kept) <= cancelled.usage.completion_tokens <= len(kept) + 1
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert error.value.body["message"] == "Cannot cancel run with status 'cancelled'."


def test_cancel_a_queued_run(client: OpenAI, llm: ScriptedBackend, http: httpx.Client) -> None:
    model = llm.model(Text("never seen", first_delay=3))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "queued"
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    cancelled = wait_for(client, thread.id, run.id, "cancelled")
    assert cancelled.status == "cancelled"
    assert client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data == []


def test_cancel_while_waiting_for_tool_outputs(client: OpenAI, llm: ScriptedBackend) -> None:
    _, thread, run = paused_run(client, llm)
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    cancelled = wait_for(client, thread.id, run.id, "cancelled")
    assert cancelled.required_action is None
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert (step.type, step.status) == ("tool_calls", "cancelled")
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_x", "output": "x"}],
        )
    assert error.value.body["message"] == 'Runs in status "cancelled" do not accept tool outputs.'


def test_cancel_a_finished_run_is_400(client: OpenAI, llm: ScriptedBackend) -> None:
    assistant = client.beta.assistants.create(model=llm.model(Text("done")))
    run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    assert error.value.body["message"] == "Cannot cancel run with status 'completed'."
    assert error.value.response.headers["x-should-retry"] == "false"


def test_tool_outputs_must_answer_every_call(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(ToolCalls([("get_weather", '{"city": "A"}'), ("get_time", "{}")]))
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER, CLOCK])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Both"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    first, _ = run.required_action.submit_tool_outputs.tool_calls
    submit = client.beta.threads.runs.submit_tool_outputs
    for outputs, param in (
        ([{"tool_call_id": first.id, "output": "x"}], "tool_outputs"),
        ([{"tool_call_id": "call_unknown", "output": "x"}], "tool_outputs[0].tool_call_id"),
        (
            [
                {"tool_call_id": first.id, "output": "x"},
                {"tool_call_id": first.id, "output": "y"},
            ],
            "tool_outputs[1].tool_call_id",
        ),
    ):
        with pytest.raises(openai.BadRequestError) as error:
            submit(run_id=run.id, thread_id=thread.id, tool_outputs=outputs)
        assert error.value.body["param"] == param
    # Nothing changed: the run still waits for both.
    again = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert again.status == "requires_action"
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


def test_completed_runs_take_no_tool_outputs(client: OpenAI, llm: ScriptedBackend) -> None:
    assistant = client.beta.assistants.create(model=llm.model(Text("done")))
    run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=[]
        )
    assert error.value.body["message"] == 'Runs in status "completed" do not accept tool outputs.'


def test_a_run_waiting_too_long_expires(
    client: OpenAI, llm: ScriptedBackend, server: Server
) -> None:
    _, thread, run = paused_run(client, llm)

    make_overdue(server, run.id)
    expired = wait_for(client, thread.id, run.id, "expired")
    assert expired.required_action is None
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "expired" and step.expired_at is not None
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_x", "output": "late"}],
        )
    assert error.value.body["message"] == 'Runs in status "expired" do not accept tool outputs.'
    # The thread is free again.
    client.beta.threads.messages.create(thread.id, role="user", content="still there?")


def test_submitting_past_expiry_expires_the_run(
    client: OpenAI, llm: ScriptedBackend, server: Server
) -> None:
    _, thread, run = paused_run(client, llm)
    call = run.required_action.submit_tool_outputs.tool_calls[0]

    make_overdue(server, run.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.runs.submit_tool_outputs(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": call.id, "output": "late"}],
        )
    assert error.value.body["message"] == 'Runs in status "expired" do not accept tool outputs.'
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status == "expired"


def test_run_leaves_requires_action_before_submit_answers(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    _, thread, run = paused_run(client, llm, Text("thanks", first_delay=0.5))
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    after = client.beta.threads.runs.submit_tool_outputs(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "1"}]
    )
    assert after.status == "queued" and after.required_action is None
    assert client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status != (
        "requires_action"
    )
    assert wait_for(client, thread.id, run.id, "completed").status == "completed"


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "assistant_id", "missing_required_parameter"),
        ({"assistant_id": "A", "temperature": 3}, "temperature", "integer_above_max_value"),
        ({"assistant_id": "A", "max_prompt_tokens": 100}, "max_prompt_tokens",
         "integer_below_min_value"),
        ({"assistant_id": "A", "max_completion_tokens": 10}, "max_completion_tokens",
         "integer_below_min_value"),
        ({"assistant_id": "A", "truncation_strategy": {"type": "middle"}},
         "truncation_strategy.type", "invalid_value"),
        ({"assistant_id": "A", "truncation_strategy": {"type": "last_messages",
                                                      "last_messages": 0}},
         "truncation_strategy.last_messages", "integer_below_min_value"),
        ({"assistant_id": "A", "tool_choice": "sometimes"}, "tool_choice", "invalid_type"),
        ({"assistant_id": "A", "tool_choice": {"type": "browser"}}, "tool_choice.type",
         "invalid_value"),
        ({"assistant_id": "A", "tool_choice": {"type": "function"}}, "tool_choice",
         "missing_required_parameter"),
        ({"assistant_id": "A", "tool_choice": {"type": "function",
                                              "function": {"name": "nope"}}},
         "tool_choice.function.name", None),
        ({"assistant_id": "A", "tools": [{"type": "code_interpreter"}] * 21}, "tools",
         "array_above_max_length"),
        ({"assistant_id": "A", "additional_messages": [{"role": "user"}]},
         "additional_messages[0].content", "missing_required_parameter"),
        ({"assistant_id": "A", "stream": "yes"}, "stream", "invalid_type"),
        ({"assistant_id": "A", "file_ids": []}, "file_ids", "unknown_parameter"),
    ],
)  # fmt: skip
def test_create_run_rejects_bad_input(
    client: OpenAI, http: httpx.Client, body: dict, param: str, code: str | None
) -> None:
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create()
    if body.get("assistant_id") == "A":
        body = {**body, "assistant_id": assistant.id}
    response = http.post(f"/threads/{thread.id}/runs", json=body)
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["param"], response.json()["error"]["code"]) == (param, code)
    assert client.beta.threads.runs.list(thread.id).data == []
    assert client.beta.threads.messages.list(thread.id).data == []


def test_create_run_unknown_objects(client: OpenAI, http: httpx.Client) -> None:
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create()
    response = http.post(f"/threads/{thread.id}/runs", json={"assistant_id": "asst_gone"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No assistant found with id 'asst_gone'."
    response = http.post("/threads/thread_gone/runs", json={"assistant_id": assistant.id})
    assert response.status_code == 404
    response = http.post(
        "/threads/runs",
        json={"assistant_id": assistant.id, "thread": {"messages": [{"role": "x"}]}},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "thread.messages[0].role"
