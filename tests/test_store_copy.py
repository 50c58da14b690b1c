"""`threadline store copy`: a SQLite deployment, made through the API, copied to PostgreSQL
reads back the same through the API, searches the same and carries on its runs; a killed
copy leaves the target empty or a rerun completes it; a target with rows is refused."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from sqlalchemy import func, inspect, select

from tests.conftest import ENGINE_ENV, make_client
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.store import create_key
from threadline import tables
from threadline.db.engine import create_engine

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
LEAVE = (
    b"# Leave policy\n\nEmployees get 25 days of paid leave a year. Unused days expire at "
    b"the end of March. Sick leave is separate and unlimited with a doctor's note."
)
QUERIES = ("paid leave days", "sick note", "March")


@dataclass
class Deployment:
    data_dir: Path
    url: str
    key: str
    assistant_id: str
    thread_ids: list[str]
    waiting: tuple[str, str, str]  # thread, run, tool call
    file_id: str
    vector_store_id: str

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"


@pytest.fixture(scope="module")
def deployment(llm: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """A SQLite deployment with runs in several states, a file and a searchable store; its
    server stopped."""
    data_dir = tmp_path_factory.mktemp("copy-source")
    url = f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}"
    env = {"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV}
    server = Server(database_url=url, data_dir=data_dir, env=env).start()
    try:
        key = create_key(url, f"copy-{uuid.uuid4().hex[:8]}")
        with make_client(server, key) as client:
            model = llm.model(
                Text("Hello there."),
                ToolCalls([("get_weather", '{"city": "Paris"}')]),
                Text("It is sunny in Paris."),
                ToolCalls([("get_weather", '{"city": "Oslo"}')]),
                always=Text("It snows in Oslo."),  # the copy's server finishes the run
            )
            assistant = client.beta.assistants.create(
                model=model, name="copied", instructions="Be brief.", tools=[WEATHER],
                temperature=0.5, metadata={"k": "v"},
            )  # fmt: skip
            threads = []
            completed = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]}
            )
            assert completed.status == "completed"
            threads.append(completed.thread_id)
            tooled = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
            )
            assert tooled.status == "requires_action"
            call = tooled.required_action.submit_tool_outputs.tool_calls[0]
            done = client.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=tooled.id,
                thread_id=tooled.thread_id,
                tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}],
            )
            assert done.status == "completed"
            threads.append(tooled.thread_id)
            waiting = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": "Weather in Oslo?"}]},
            )
            assert waiting.status == "requires_action"
            threads.append(waiting.thread_id)
            waiting_call = waiting.required_action.submit_tool_outputs.tool_calls[0].id
            empty = client.beta.threads.create(metadata={"empty": "yes"})
            threads.append(empty.id)
            file = client.files.create(file=("leave.md", LEAVE), purpose="assistants")
            store = client.vector_stores.create(name="policies", file_ids=[file.id])
            for _ in range(300):
                store = client.vector_stores.retrieve(store.id)
                if store.file_counts.completed == 1:
                    break
                time.sleep(0.1)
            assert store.file_counts.completed == 1
    finally:
        server.stop()
    return Deployment(
        data_dir, url, key, assistant.id, threads,
        (waiting.thread_id, waiting.id, waiting_call), file.id, store.id,
    )  # fmt: skip


def store_copy(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "threadline", "store", "copy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "THREADLINE_EMBEDDED": "false"},
    )


def copy_args(source: Deployment, target_url: str, target_files: Path) -> list[str]:
    return [
        "--from", source.url, "--to", target_url,
        "--from-files", str(source.files_dir), "--to-files", str(target_files),
    ]  # fmt: skip


def snapshot(client: OpenAI, source: Deployment) -> dict[str, Any]:
    """Everything the API shows of the deployment, as JSON."""
    seen: dict[str, Any] = {
        "assistant": client.beta.assistants.retrieve(source.assistant_id).model_dump(),
        "assistants": [a.model_dump() for a in client.beta.assistants.list(order="asc")],
        "file": client.files.retrieve(source.file_id).model_dump(),
        "content": client.files.content(source.file_id).read(),
        "store": client.vector_stores.retrieve(source.vector_store_id).model_dump(),
        "store_files": [
            f.model_dump() for f in client.vector_stores.files.list(source.vector_store_id)
        ],
        "searches": [
            [
                (r.file_id, r.filename, [c.text for c in r.content])
                for r in client.vector_stores.search(source.vector_store_id, query=query)
            ]
            for query in QUERIES
        ],
    }
    for thread_id in source.thread_ids:
        seen[thread_id] = {
            "thread": client.beta.threads.retrieve(thread_id).model_dump(),
            "messages": [m.model_dump() for m in client.beta.threads.messages.list(thread_id)],
            "runs": [
                {
                    "run": run.model_dump(),
                    "steps": [
                        s.model_dump()
                        for s in client.beta.threads.runs.steps.list(run.id, thread_id=thread_id)
                    ],
                }
                for run in client.beta.threads.runs.list(thread_id)
            ],
        }
    return seen


def counts(url: str) -> dict[str, int]:
    async def read() -> dict[str, int]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                migrated = await connection.run_sync(lambda sync: inspect(sync).has_table("runs"))
                if not migrated:  # killed before the migrations committed: empty too
                    return dict.fromkeys(tables.Base.metadata.tables, 0)
                return {
                    table.name: await connection.scalar(select(func.count()).select_from(table))
                    for table in tables.Base.metadata.sorted_tables
                }
        finally:
            await engine.dispose()

    return asyncio.run(read())


@pytest.fixture(params=["postgres", "pgvector"])
def target_url(request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_database(with_pgvector=request.param == "pgvector") as url:
        yield url


def test_a_copy_on_postgres_serves_the_same(
    deployment: Deployment, target_url: str, llm: ScriptedBackend, tmp_path: Path
) -> None:
    source_server = Server(
        database_url=deployment.url,
        data_dir=deployment.data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    )
    target_dir = tmp_path / "copy"
    copied = store_copy(*copy_args(deployment, target_url, target_dir / "files"))
    assert copied.returncode == 0, copied.stderr
    assert "verified" in copied.stdout
    assert "chunks" in copied.stderr  # the per-table progress
    assert counts(target_url) == counts(deployment.url)

    source_server.start()
    try:
        with make_client(source_server, deployment.key) as client:
            before = snapshot(client, deployment)
    finally:
        source_server.stop()
    target = Server(
        database_url=target_url,
        data_dir=target_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    ).start()
    try:
        with make_client(target, deployment.key) as client:
            after = snapshot(client, deployment)
            assert after == before
            assert before["searches"][0], "the search found the file"
            thread_id, run_id, call_id = deployment.waiting
            run = client.beta.threads.runs.submit_tool_outputs_and_poll(
                run_id=run_id,
                thread_id=thread_id,
                tool_outputs=[{"tool_call_id": call_id, "output": "snow"}],
            )
            assert run.status == "completed"
            newest = client.beta.threads.messages.list(thread_id).data[0]
            assert newest.content[0].text.value == "It snows in Oslo."
    finally:
        target.stop()

    refused = store_copy(*copy_args(deployment, target_url, tmp_path / "again"))
    assert refused.returncode == 2
    assert "already holds rows" in refused.stderr


def test_a_copy_to_sqlite_and_back_is_verified(deployment: Deployment, tmp_path: Path) -> None:
    """PostgreSQL to SQLite is the same code: SQLite to PostgreSQL to SQLite again."""
    with fresh_database() as middle:
        first = store_copy(*copy_args(deployment, middle, deployment.files_dir))
        assert first.returncode == 0, first.stderr
        assert "already in place" in first.stdout
        back = f"sqlite+aiosqlite:///{tmp_path / 'back' / 'threadline.db'}"
        second = store_copy("--from", middle, "--to", back, "--from-files",
                            str(deployment.files_dir))  # fmt: skip
        assert second.returncode == 0, second.stderr
    assert counts(back) == counts(deployment.url)
    assert (tmp_path / "back" / "files" / deployment.file_id).read_bytes() == LEAVE


def kill_after(
    source: Deployment, url: str, files: Path, seconds: float | None
) -> subprocess.Popen[bytes]:
    """A copy, killed (SIGKILL) `seconds` after its first line, once it has started (the
    interpreter's start-up is no part of the copy); left to run when `seconds` is None."""
    process = subprocess.Popen(
        [sys.executable, "-m", "threadline", "store", "copy", *copy_args(source, url, files)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "THREADLINE_EMBEDDED": "false"},
    )
    assert process.stderr is not None
    process.stderr.readline()
    process.started = time.monotonic()  # type: ignore[attr-defined]
    if seconds is None:
        process.stderr.read()
        return process
    time.sleep(seconds)
    process.kill()
    process.wait()
    process.stderr.close()
    return process


def test_a_killed_copy_leaves_an_empty_target_or_a_rerun_completes_it(
    deployment: Deployment, tmp_path: Path
) -> None:
    expected = counts(deployment.url)
    with fresh_database() as url:
        timing = kill_after(deployment, url, tmp_path / "timing", None)
        assert timing.wait() == 0
    whole = time.monotonic() - timing.started  # type: ignore[attr-defined]
    rng = random.Random(25)
    for trial in range(4):
        with fresh_database() as url:
            files = tmp_path / f"trial-{trial}"
            kill_after(deployment, url, files, rng.uniform(0, whole))
            left = counts(url)
            assert sum(left.values()) == 0 or left == expected, left
            rerun = store_copy(*copy_args(deployment, url, files))
            if sum(left.values()) == 0:
                assert rerun.returncode == 0, rerun.stderr
            else:
                assert rerun.returncode == 2, rerun.stderr  # it was complete already
            assert counts(url) == expected
            assert (files / deployment.file_id).read_bytes() == LEAVE


def test_a_source_on_an_old_schema_or_missing_is_refused(tmp_path: Path) -> None:
    missing = store_copy(
        "--from", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}",
        "--to", f"sqlite+aiosqlite:///{tmp_path / 'to.db'}",
    )  # fmt: skip
    assert missing.returncode == 2
    assert "no SQLite database" in missing.stderr
