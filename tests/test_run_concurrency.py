"""Many runs at once, races for one thread, and a server killed mid-run."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import Echo, ScriptedBackend, Text, ToolCalls
from tests.test_runs import WEATHER

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
            # The question is still there, the interrupted answer is marked, the new one whole.
            assert messages[0].content[0].text.value == f"question {index}"
            assert messages[-1].status == "completed"
            assert messages[-1].content[0].text.value == "recovered answer"
            assert [m.status for m in messages[1:-1]] == ["incomplete"]
            steps = client.beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
            assert [s.status for s in steps.data] == ["failed", "completed"]

        # The run that waited for tool outputs still waits, and can finish.
        call = waiting.required_action.submit_tool_outputs.tool_calls[0]
        done = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=waiting.id,
            thread_id=waiting.thread_id,
            tool_outputs=[{"tool_call_id": call.id, "output": "18C"}],
        )
        assert done.status == "completed"
