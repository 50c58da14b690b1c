"""Many runs at once, races for one thread, and a server killed mid-run."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support import store
from tests.support.scripted_backend import Echo, ScriptedBackend, Text, ToolCalls
from tests.test_runs import WEATHER
from threadline.engine.recovery import MAX_RECOVERIES

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


def wait_all(client: OpenAI, runs: list[tuple[str, str]], timeout: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    status: dict[str, str] = {}
    pending = list(runs)
    while pending and time.monotonic() < deadline:
        still = []
        for thread_id, run_id in pending:
            run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            status[run_id] = run.status
            if run.status not in TERMINAL and run.status != "requires_action":
                still.append((thread_id, run_id))
        pending = still
        if pending:
            time.sleep(0.1)
    assert not pending, f"still running: {[status[r] for _, r in pending]}"
    return status


def test_a_hundred_runs_on_a_hundred_threads(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(always=Echo(delay=0.05))
    assistant = client.beta.assistants.create(model=model)

    def start(index: int) -> tuple[str, str, str]:
        word = f"word{index:03d}"
        run = client.beta.threads.create_and_run(
            assistant_id=assistant.id,
            thread={"messages": [{"role": "user", "content": word}]},
        )
        return run.thread_id, run.id, word

    with ThreadPoolExecutor(max_workers=25) as pool:
        started = list(pool.map(start, range(100)))
    status = wait_all(client, [(t, r) for t, r, _ in started])
    assert set(status.values()) == {"completed"}
    for thread_id, _, word in started:
        reply = client.beta.threads.messages.list(thread_id).data[0]
        assert reply.content[0].text.value == word[::-1]


def test_twenty_creations_on_one_thread_give_one_run(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    assistant = client.beta.assistants.create(model=llm.model(Text("slow", first_delay=2)))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    barrier = threading.Barrier(20)

    def create(_: int) -> httpx.Response:
        barrier.wait()
        return http.post(f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(create, range(20)))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1
    run_id = winners[0].json()["id"]
    losers = [r for r in responses if r.status_code != 200]
    assert {r.status_code for r in losers} == {400}
    assert {r.json()["error"]["message"] for r in losers} == {
        f"Thread {thread.id} already has an active run {run_id}."
    }
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [run_id]


def test_a_killed_server_finishes_its_runs_after_restart(
    spawn: ServerFactory, llm: ScriptedBackend
) -> None:
    server = spawn()
    slow = Text("an answer the crash cuts short", per_char=True, chunk_delay=0.1)
    model = llm.model(*[slow] * 4, always=Text("recovered answer"))
    paused_model = llm.model(ToolCalls([("get_weather", '{"city": "Lima"}')]), Text("Lima: mild."))
    with make_client(server, "local") as client:
        assistant = client.beta.assistants.create(model=model)
        runs = []
        for index in range(4):
            run = client.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": f"question {index}"}]},
            )
            runs.append((run.thread_id, run.id))
        waiting = client.beta.threads.create_and_run_poll(
            assistant_id=client.beta.assistants.create(model=paused_model, tools=[WEATHER]).id,
            thread={"messages": [{"role": "user", "content": "weather in Lima"}]},
        )
        assert waiting.status == "requires_action"
        # Let every answer begin.
        deadline = time.monotonic() + 20
        while any(not client.beta.threads.messages.list(t, run_id=r).data for t, r in runs):
            assert time.monotonic() < deadline
            time.sleep(0.05)

    server.stop(signal.SIGKILL)
    server.start()
    with make_client(server, "local") as client:
        status = wait_all(client, runs)
        assert set(status.values()) == {"completed"}
        for index, (thread_id, run_id) in enumerate(runs):
            messages = client.beta.threads.messages.list(thread_id, order="asc").data
            # Every message has content (clients read content[0]); the question is still
            # there and the new answer whole, and the interrupted answer, whose text went
            # down with the process, is gone rather than left empty.
            assert all(m.content and m.content[0].text.value for m in messages)
            assert [m.content[0].text.value for m in messages] == [
                f"question {index}",
                "recovered answer",
            ]
            assert messages[-1].status == "completed"
            steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
            assert [s.status for s in steps.data] == ["failed", "completed"]
            # The failed step keeps the removed message's id, as after a client deletes it.
            removed = steps.data[0].step_details.message_creation.message_id
            assert removed not in {m.id for m in messages}
            with pytest.raises(openai.NotFoundError):
                client.beta.threads.messages.retrieve(removed, thread_id=thread_id)
            answer = steps.data[1].step_details.message_creation.message_id
            assert answer == messages[-1].id

        # The run that waited for tool outputs still waits, and can finish.
        call = waiting.required_action.submit_tool_outputs.tool_calls[0]
        done = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=waiting.id,
            thread_id=waiting.thread_id,
            tool_outputs=[{"tool_call_id": call.id, "output": "18C"}],
        )
        assert done.status == "completed"


def test_runs_ended_by_recovery_leave_no_empty_message(
    spawn: ServerFactory, llm: ScriptedBackend
) -> None:
    """An answer open when the process died has no stored text: whether its run is retried,
    fails (interrupted too often) or was being cancelled, the message is removed, so every
    message a client lists has content; the step ends and keeps the message's id."""
    server = spawn()
    model = llm.model(always=Text("retried answer"))
    with make_client(server, "local") as client:
        assistant = client.beta.assistants.create(model=model)
        threads = [
            client.beta.threads.create(messages=[{"role": "user", "content": f"q{index}"}]).id
            for index in range(3)
        ]
    server.stop(signal.SIGKILL)
    cases = {"in_progress": 0, "failed": MAX_RECOVERIES, "cancelling": 0}
    rows: list = []
    runs: list[tuple[str, str, dict]] = []
    for thread_id, (status, recoveries) in zip(threads, cases.items(), strict=True):
        run = store.run_fields(
            thread_id, assistant.id, model=model, usage=None, completed_at=None,
            status="in_progress" if status == "failed" else status, recoveries=recoveries,
        )  # fmt: skip
        message = store.message_fields(
            thread_id, None, role="assistant", status="in_progress", completed_at=None,
            run_id=run["id"], assistant_id=assistant.id,
        )  # fmt: skip
        step = store.step_fields(
            run, {"type": "message_creation", "message_creation": {"message_id": message["id"]}},
            status="in_progress", completed_at=None, usage=None,
        )  # fmt: skip
        rows += [(store.Run, run), (store.Message, message), (store.RunStep, step)]
        runs.append((thread_id, run["id"], message))
    store.insert(server.database_url, *rows)
    server.start()

    with make_client(server, "local") as client:
        status = wait_all(client, [(thread_id, run_id) for thread_id, run_id, _ in runs])
        assert list(status.values()) == ["completed", "failed", "cancelled"]
        expected = [
            (["q0", "retried answer"], ["failed", "completed"]),
            (["q1"], ["failed"]),
            (["q2"], ["cancelled"]),
        ]
        for (thread_id, run_id, message), (texts, stepped) in zip(runs, expected, strict=True):
            listed = client.beta.threads.messages.list(thread_id, order="asc").data
            assert [m.content[0].text.value for m in listed] == texts
            assert message["id"] not in {m.id for m in listed}
            steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
            assert [s.status for s in steps.data] == stepped
            assert steps.data[0].step_details.message_creation.message_id == message["id"]
        failed = client.beta.threads.runs.retrieve(runs[1][1], thread_id=runs[1][0])
        assert failed.last_error.code == "server_error"
