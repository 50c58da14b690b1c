"""Distributed mode: two API processes and two workers as real subprocesses, on PostgreSQL
and Redis, with the scripted backend. Runs go from either replica to either worker, stream
and re-attach across replicas, survive a worker or a replica killed mid-run, are cancelled
from the replica that did not create them, and outlive a Redis restart."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.conftest import ENGINE_ENV, make_client
from tests.support.cluster import Cluster, PrivateRedis, kill
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.sse import identified, stream_get
from tests.support.transcripts import TEXT_RUN, collapse
from tests.support.wire import HOOKS

LEASE_SECONDS = "2"


def cluster_env(llm: ScriptedBackend) -> dict[str, str]:
    return {
        "THREADLINE_LLM_BASE_URL": llm.base_url,
        "THREADLINE_RUN_LEASE_SECONDS": LEASE_SECONDS,
        **ENGINE_ENV,
    }


@pytest.fixture(scope="module")
def cluster(
    llm: ScriptedBackend, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    with fresh_database() as url:
        running = Cluster(url, redis_url, tmp_path_factory.mktemp("cluster"), cluster_env(llm))
        try:
            yield running.start(apis=2, workers=2)
        finally:
            running.stop()


def client_of(server: Server) -> OpenAI:
    return make_client(server, "local")


def http_of(server: Server) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=60, event_hooks=HOOKS)


def wait_for(check, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError("timed out")


def run_ended(
    client: OpenAI, thread_id: str, run_id: str, timeout: float = 30.0, every: float = 0.05
):
    """The run once it has left `queued`, `in_progress` and `cancelling`."""
    return wait_for(
        lambda: (
            (run := client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)).status
            not in ("queued", "in_progress", "cancelling")
            and run
        ),
        timeout=timeout,
        every=every,
    )


def text_of(events: list) -> str:
    return "".join(
        part["text"]["value"]
        for _, name, data in events
        if name == "thread.message.delta"
        for part in data["delta"]["content"]
    )


def test_runs_from_either_replica_run_on_both_workers(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    model = llm.model(always=Text("Done."))
    first, second = (client_of(api) for api in cluster.apis)
    assistant = first.beta.assistants.create(model=model)
    before = [cluster.health(w)["worker"]["runs_executed"] for w in cluster.workers]
    for index in range(12):
        client = (first, second)[index % 2]
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "hi"}]}
        )
        assert run.status == "completed", run.last_error
        # The other replica reads what this one's worker wrote.
        other = (first, second)[1 - index % 2]
        reply = other.beta.threads.messages.list(run.thread_id).data[0]
        assert reply.content[0].text.value == "Done."
    after = [cluster.health(w)["worker"]["runs_executed"] for w in cluster.workers]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


def test_a_workers_lines_carry_the_id_of_the_request(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    client = client_of(cluster.apis[0])
    assistant = client.beta.assistants.create(model=llm.model(always=Text("Traced.")))
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "hi"}]},
        extra_headers={"x-request-id": "req_across-processes-1"},
    )
    assert run.status == "completed"
    lines = [
        line
        for worker in cluster.workers
        for line in worker.log().splitlines()
        if f"run {run.id} completed" in line
    ]
    assert len(lines) == 1 and "request_id=req_across-processes-1" in lines[0]


def test_streamed_on_one_replica_and_reattached_on_the_other(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    words = "one two three four five six seven eight nine ten " * 2
    model = llm.model(Text(words, chunks=20, chunk_delay=0.05))
    first, second = cluster.apis
    assistant = client_of(first).beta.assistants.create(model=model)
    thread = client_of(first).beta.threads.create()
    seen = []
    with (
        http_of(first) as http,
        http.stream(
            "POST",
            f"/threads/{thread.id}/runs",
            json={"assistant_id": assistant.id, "stream": True},
        ) as response,
    ):
        for event in identified(response):
            seen.append(event)
            if event[1] == "thread.message.delta" and len(seen) > 9:
                break  # the client goes away mid-stream
    run_id = seen[0][2]["id"]
    with http_of(second) as other:
        rest = stream_get(
            other, f"/threads/{thread.id}/runs/{run_id}/events", {"Last-Event-ID": seen[-1][0]}
        )
        whole = stream_get(other, f"/threads/{thread.id}/runs/{run_id}/events")
    assert collapse([name for _, name, _ in seen + rest]) == TEXT_RUN
    assert text_of(seen + rest) == words
    assert [event[0] for event in whole[: len(seen)]] == [event[0] for event in seen]
    assert whole == seen + rest


def test_cancel_on_the_replica_that_did_not_create_the_run(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("slow " * 200, chunks=200, chunk_delay=0.05))
    first, second = (client_of(api) for api in cluster.apis)
    assistant = first.beta.assistants.create(model=model)
    thread = first.beta.threads.create()
    run = first.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    wait_for(lambda: first.beta.threads.messages.list(thread.id).data)  # text is streaming
    asked = time.monotonic()
    second.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    ended = run_ended(first, thread.id, run.id, timeout=10, every=0.02)
    assert time.monotonic() - asked < 1.5
    assert ended.status == "cancelled" and ended.cancelled_at is not None
    message = first.beta.threads.messages.list(thread.id).data[0]
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"
    assert 0 < len(message.content[0].text.value) < len("slow " * 200)


def test_files_uploaded_to_one_replica_are_searched_by_a_worker(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    first, second = (client_of(api) for api in cluster.apis)
    notes = first.files.create(
        file=("notes.md", b"# Notes\n\nThe lighthouse keeper counted 42 ships."),
        purpose="assistants",
    )
    store = first.vector_stores.create(file_ids=[notes.id])
    # No API process ingests: a worker, woken through Redis, does.
    ingested = wait_for(
        lambda: (
            (f := second.vector_stores.files.retrieve(notes.id, vector_store_id=store.id)).status
            != "in_progress"
            and f
        ),
        timeout=120,
    )
    assert ingested.status == "completed", ingested.last_error
    model = llm.model(
        ToolCalls([("file_search", '{"query": "lighthouse ships"}')]),
        Text("42 ships 【0†notes.md】."),
    )
    assistant = second.beta.assistants.create(
        model=model,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
    )
    run = second.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Ships?"}]}
    )
    assert run.status == "completed", run.last_error
    steps = first.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc")
    results = steps.data[0].step_details.tool_calls[0].file_search.results
    assert [result.file_id for result in results] == [notes.id]
    # The bytes are in the files directory every process shares.
    assert second.files.content(notes.id).read().endswith(b"42 ships.")


def test_a_worker_killed_mid_run(cluster: Cluster, llm: ScriptedBackend) -> None:
    words = "alpha beta gamma delta " * 10
    model = llm.model(Text(words, chunks=40, chunk_delay=0.1), always=Text(words, chunks=4))
    client = client_of(cluster.apis[0])
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "go"}])
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    holder = cluster.worker_holding(run.id)
    wait_for(lambda: client.beta.threads.messages.list(thread.id).data[0].role == "assistant")
    kill(holder)
    cluster.workers.remove(holder)
    try:
        done = run_ended(client, thread.id, run.id, timeout=60)
        assert done.status == "completed", done.last_error
        messages = client.beta.threads.messages.list(thread.id, order="asc").data
        answers = [m for m in messages if m.role == "assistant"]
        # The interrupted answer, whose text went down with its worker, is removed rather
        # than left empty; the run's answer is written once.
        assert [m.status for m in answers] == ["completed"]
        assert answers[0].content[0].text.value == words
        assert all(m.content for m in messages)
        assert len([m for m in messages if m.role == "user"]) == 1
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
        assert [s.status for s in steps.data] == ["failed", "completed"]
    finally:
        cluster.add_worker()


def test_a_background_response_outlives_its_worker_and_streams_on_either_replica(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    """A response runs on the workers as a run does: killed with its worker mid-answer, it
    is taken up by the other; its stream, resumed on the other replica after a sequence
    number, goes on from there to its end."""
    words = "alpha beta gamma delta " * 10
    model = llm.model(Text(words, chunks=40, chunk_delay=0.1), always=Text(words, chunks=4))
    first, second = client_of(cluster.apis[0]), client_of(cluster.apis[1])
    response = first.responses.create(model=model, input="go", background=True)
    run_id = "run_" + response.id.removeprefix("resp_")
    holder = cluster.worker_holding(run_id)
    wait_for(lambda: first.responses.retrieve(response.id).status == "in_progress")
    kill(holder)
    cluster.workers.remove(holder)
    try:
        done = wait_for(
            lambda: (
                (r := second.responses.retrieve(response.id)).status
                not in ("queued", "in_progress")
                and r
            ),
            timeout=60,
        )
        assert done.status == "completed", done.error
        assert done.output_text == words
        events = list(second.responses.retrieve(response.id, stream=True, starting_after=1))
        assert events[0].sequence_number == 2 and events[-1].type == "response.completed"
    finally:
        cluster.add_worker()


def test_a_container_made_on_one_worker_is_used_on_the_other(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    """A container's files live in the shared files store: code that wrote one on a worker
    that is then killed is followed by code on the other worker that reads it (its
    variables went with the first worker's session)."""
    first, second = client_of(cluster.apis[0]), client_of(cluster.apis[1])
    data = first.files.create(file=("n.txt", b"7"), purpose="assistants")
    container = first.containers.create(name="shared", file_ids=[data.id])
    tool = {"type": "code_interpreter", "container": container.id}
    write = (
        "x = int(open('/mnt/data/n.txt').read()) * 2\nopen('/mnt/data/out.txt', 'w').write(str(x))"
    )
    slow = Text("one two three four five six seven eight ", chunks=8, chunk_delay=0.25)
    model = llm.model(ToolCalls([("code_interpreter", json.dumps({"code": write}))]), slow)
    response = first.responses.create(model=model, input="go", tools=[tool], background=True)
    holder = cluster.worker_holding("run_" + response.id.removeprefix("resp_"))
    wait_for(lambda: first.responses.retrieve(response.id).status == "completed", timeout=60)
    kill(holder)
    cluster.workers.remove(holder)
    try:
        read = (
            "print(open('/mnt/data/out.txt').read(), open('/mnt/data/n.txt').read(), 'x' in dir())"
        )
        model = llm.model(ToolCalls([("code_interpreter", json.dumps({"code": read}))]), Text("ok"))
        done = second.responses.create(
            model=model, input="go", tools=[tool], include=["code_interpreter_call.outputs"]
        )
        assert done.status == "completed", done.error
        assert done.output[0].outputs[0].logs.strip() == "14 7 False"
    finally:
        cluster.add_worker()


def test_a_worker_starting_leaves_running_runs_alone(
    cluster: Cluster, llm: ScriptedBackend
) -> None:
    words = "steady " * 20
    model = llm.model(Text(words, chunks=20, chunk_delay=0.1))
    client = client_of(cluster.apis[1])
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    holder = cluster.worker_holding(run.id)
    newcomer = cluster.add_worker()  # it recovers nothing at start: the run is held
    done = run_ended(client, thread.id, run.id)
    assert done.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [step.status for step in steps] == ["completed"]
    assert holder is not newcomer and cluster.health(newcomer)["status"] == "ok"


def test_a_replica_killed_mid_stream(cluster: Cluster, llm: ScriptedBackend) -> None:
    words = "lorem ipsum dolor sit amet " * 6
    model = llm.model(Text(words, chunks=30, chunk_delay=0.05))
    doomed = cluster._server("api", 99).start()
    try:
        assistant = client_of(doomed).beta.assistants.create(model=model)
        thread = client_of(doomed).beta.threads.create()
        seen: list = []
        broke = threading.Event()

        def read() -> None:
            try:
                with (
                    http_of(doomed) as http,
                    http.stream(
                        "POST",
                        f"/threads/{thread.id}/runs",
                        json={"assistant_id": assistant.id, "stream": True},
                    ) as response,
                ):
                    for event in identified(response):
                        seen.append(event)
            except httpx.HTTPError:
                pass
            finally:
                broke.set()

        reader = threading.Thread(target=read)
        reader.start()
        wait_for(lambda: len([e for e in seen if e[1] == "thread.message.delta"]) >= 5)
        kill(doomed)
        broke.wait(10)
        reader.join(10)
    finally:
        doomed.stop()
    run_id = seen[0][2]["id"]
    assert seen[-1][1] != "done"
    with http_of(cluster.apis[1]) as other:
        rest = stream_get(
            other, f"/threads/{thread.id}/runs/{run_id}/events", {"Last-Event-ID": seen[-1][0]}
        )
    assert collapse([name for _, name, _ in seen + rest]) == TEXT_RUN
    assert text_of(seen + rest) == words


def test_runs_outlive_a_redis_restart(llm: ScriptedBackend, tmp_path: Path) -> None:
    words = "steady as she goes " * 5
    model = llm.model(always=Text(words, chunks=25, chunk_delay=0.08))
    private = PrivateRedis(tmp_path / "redis").start()
    with fresh_database() as url:
        cluster = Cluster(url, private.url, tmp_path / "cluster", cluster_env(llm))
        try:
            cluster.start(apis=1, workers=2)
            client = client_of(cluster.apis[0])
            assistant = client.beta.assistants.create(model=model)
            runs = [
                client.beta.threads.create_and_run(
                    assistant_id=assistant.id,
                    thread={"messages": [{"role": "user", "content": f"go {i}"}]},
                )
                for i in range(8)
            ]
            wait_for(lambda: client.beta.threads.messages.list(runs[0].thread_id).data[0].role
                     == "assistant")  # fmt: skip
            private.stop()  # everything Redis held is gone
            time.sleep(0.5)
            private.start()
            for run in runs:
                done = run_ended(client, run.thread_id, run.id, timeout=90, every=0.2)
                assert done.status == "completed", done.last_error
                answers = client.beta.threads.messages.list(run.thread_id).data
                completed = [
                    m.content[0].text.value
                    for m in answers
                    if m.role == "assistant" and m.status == "completed"
                ]
                assert completed == [words]
        finally:
            cluster.stop()
            private.stop()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--role", "api"], "needs --redis-url"),
        (["--role", "worker"], "needs --redis-url"),
        (["--redis-url", "redis://127.0.0.1:6379/0"], "Redis mode needs PostgreSQL"),
    ],
)
def test_roles_that_cannot_start_say_why(args: list[str], says: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "serve", "--data-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("threadline: ") and says in line
