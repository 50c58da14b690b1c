"""file_search over a store whose files are still being ingested: the search waits for them,
woken as they are done, up to THREADLINE_FILE_SEARCH_WAIT_SECONDS; files still not ready
then are named to the model and in the log. The scripted embeddings server holds the
ingestion of a file (its text carries a marker) until the test lets it go."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio
from openai import OpenAI

from tests.conftest import ENGINE_ENV, make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.store import create_key
from tests.support.wire import check_response
from threadline.cluster import ingestion as cluster_ingestion
from threadline.cluster.keys import Keys
from threadline.vector_stores.ingestion import settled

LEAVE = b"# Leave policy\n\nEmployees get 25 days of paid leave a year."


def start_server(llm: ScriptedBackend, data_dir: Path, wait_seconds: float) -> Server:
    return Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 't.db'}",
        data_dir=data_dir,
        env={
            "THREADLINE_LLM_BASE_URL": llm.base_url,
            "THREADLINE_EMBEDDINGS_BASE_URL": llm.base_url,
            "THREADLINE_FILE_SEARCH_WAIT_SECONDS": str(wait_seconds),
            **ENGINE_ENV,
        },
    ).start()


@pytest.fixture
def held(llm: ScriptedBackend) -> Iterator[tuple[tuple[str, bytes], threading.Event]]:
    """A file (name, text) whose ingestion waits until the event is set (or the test ends)."""
    marker = f"HELD-{uuid.uuid4().hex}"
    release = llm.hold_embeddings(marker)
    yield (f"{marker}.txt", f"The {marker} memo: leave requests go to Ana.".encode()), release
    release.set()


Held = tuple[tuple[str, bytes], threading.Event]


def store_with(client: OpenAI, held: tuple[str, bytes]) -> tuple[str, str, str]:
    """A store with one file ingested and one still being ingested: their ids."""
    store = client.vector_stores.create(name="policies")
    ready = client.files.create(file=("leave.md", LEAVE), purpose="assistants").id
    done = client.vector_stores.files.create_and_poll(file_id=ready, vector_store_id=store.id)
    assert done.status == "completed", done.last_error
    waiting = client.files.create(file=held, purpose="assistants").id
    added = client.vector_stores.files.create(file_id=waiting, vector_store_id=store.id)
    assert added.status == "in_progress"
    return store.id, ready, waiting


def search_run(client: OpenAI, llm: ScriptedBackend, store_id: str) -> tuple[str, str, str]:
    """A run whose model searches the store first: (model, thread id, run id)."""
    model = llm.model(ToolCalls([("file_search", '{"query": "leave"}')]), Text("Done."))
    assistant = client.beta.assistants.create(
        model=model,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store_id]}},
    )
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Who gets leave requests?"}]},
    )
    return model, run.thread_id, run.id


def finished(client: OpenAI, thread_id: str, run_id: str):
    return client.beta.threads.runs.poll(run_id, thread_id=thread_id, poll_interval_ms=50)


def the_search(server: Server, key: str, thread_id: str, run_id: str) -> dict:
    """The run's file_search call as the wire has it."""
    response = httpx.get(
        f"{server.base_url}/threads/{thread_id}/runs/{run_id}/steps",
        params={"order": "asc"},
        headers={"Authorization": f"Bearer {key}"},
    )
    check_response(response)
    step = response.json()["data"][0]
    (call,) = step["step_details"]["tool_calls"]
    return call


def test_files_not_ready_in_time_are_named(
    llm: ScriptedBackend, tmp_path: Path, held: Held
) -> None:
    held_file, _ = held
    server = start_server(llm, tmp_path, wait_seconds=0.5)
    key = create_key(server.database_url, "wait")
    try:
        with make_client(server, key) as client:
            store_id, ready, waiting = store_with(client, held_file)
            model, thread_id, run_id = search_run(client, llm, store_id)
            run = finished(client, thread_id, run_id)
            assert run.status == "completed", run.last_error
            # Searched without the file: the step is as the API has it, no field added.
            call = the_search(server, key, thread_id, run_id)
            assert set(call) == {"id", "type", "file_search"}
            assert set(call["file_search"]) == {"ranking_options", "results"}
            assert {r["file_id"] for r in call["file_search"]["results"]} == {ready}
            # The model reads which file was left out, and the log says so.
            output = llm.received(model)[1]["messages"][-1]["content"]
            assert f"Not searched: {held_file[0]} ({waiting})" in output
            assert "25 days of paid leave" in output
            status = client.vector_stores.files.retrieve(waiting, vector_store_id=store_id)
            assert status.status == "in_progress"
        log = server.log()
        assert f"run {run_id}: file_search" in log and f"{held_file[0]} ({waiting})" in log
    finally:
        server.stop()


def test_a_search_waits_for_the_file_being_ingested(
    llm: ScriptedBackend, tmp_path: Path, held: Held
) -> None:
    held_file, release = held
    server = start_server(llm, tmp_path, wait_seconds=120)
    key = create_key(server.database_url, "wait")
    try:
        with make_client(server, key) as client:
            store_id, ready, waiting = store_with(client, held_file)
            model, thread_id, run_id = search_run(client, llm, store_id)
            # The search has begun while the file is still held back...
            deadline = time.monotonic() + 60
            while not client.beta.threads.runs.steps.list(run_id, thread_id=thread_id).data:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            status = client.vector_stores.files.retrieve(waiting, vector_store_id=store_id)
            assert status.status == "in_progress"
            # ... and finds the file once its ingestion is let go.
            release.set()
            run = finished(client, thread_id, run_id)
            assert run.status == "completed", run.last_error
            call = the_search(server, key, thread_id, run_id)
            assert {r["file_id"] for r in call["file_search"]["results"]} == {ready, waiting}
            output = llm.received(model)[1]["messages"][-1]["content"]
            assert "Not searched" not in output
            assert "leave requests go to Ana" in output
        assert "still being ingested" not in server.log()
    finally:
        release.set()  # before the server stops: its ingestion waits on it
        server.stop()


def test_news_of_a_file_done_reaches_searches_in_other_processes(redis_url: str) -> None:
    """Distributed mode: a file done in one worker wakes the searches waiting in the others
    (a Redis message; both ends are in this process here)."""

    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        keys = Keys(f"tltest-{uuid.uuid4().hex[:10]}")
        stop_relay = cluster_ingestion.announce_settled_files(client, keys)
        listener = asyncio.create_task(cluster_ingestion.listen_for_files(client, keys))
        try:
            # Done here: the others are told.
            async with client.pubsub() as others:
                await others.subscribe(keys.ingested)
                settled.announce()
                told = None
                while told is None or told["type"] != "message":
                    told = await others.get_message(timeout=10)
                    assert told is not None
            # Done elsewhere: the searches waiting here hear it (once the listener has
            # subscribed: until then a message reaches no one).
            with settled.listening() as news:
                while not news.is_set():
                    await client.publish(keys.ingested, "1")
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(news.wait(), 0.1)
        finally:
            stop_relay()
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await client.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 30))
