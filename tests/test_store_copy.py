"""`threadline store copy`: a SQLite deployment, made through the API, copied to PostgreSQL
reads back the same through the API, searches the same and carries on its runs; a killed
copy leaves the target empty or a rerun completes it; a target with rows is refused; a
source a server still serves is held read-only, or copied as a snapshot when asked."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, inspect, select

from tests.conftest import ENGINE_ENV, make_client
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import Fail, ScriptedBackend, Text, ToolCalls
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
SQUARES = "open('/mnt/data/squares.csv', 'w').write('n,square\\n2,4\\n3,9\\n')"


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
    response_id: str
    conversation_id: str

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
            threads += runs_in_every_other_status(client, llm)
            conversation = client.conversations.create(metadata={"copied": "yes"})
            response = client.responses.create(
                model=llm.model(Text("Hello from a response.")),
                input="Hi",
                conversation=conversation.id,
            )
            assert response.status == "completed"
    finally:
        server.stop()
    expiring = Server(
        database_url=url, data_dir=data_dir,
        env={**env, "THREADLINE_RUN_EXPIRY_SECONDS": "1",
             "THREADLINE_RUN_EXPIRY_SWEEP_SECONDS": "0.2"},
    ).start()  # fmt: skip
    try:
        with make_client(expiring, key) as client:
            expired = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": "Weather in Rome?"}]},
                model=llm.model(ToolCalls([("get_weather", '{"city": "Rome"}')])),
            )
            for _ in range(100):
                expired = client.beta.threads.runs.retrieve(expired.id, thread_id=expired.thread_id)
                if expired.status == "expired":
                    break
                time.sleep(0.1)
            assert expired.status == "expired"
            threads.append(expired.thread_id)
    finally:
        expiring.stop()
    return Deployment(
        data_dir, url, key, assistant.id, threads,
        (waiting.thread_id, waiting.id, waiting_call), file.id, store.id,
        response.id, conversation.id,
    )  # fmt: skip


def runs_in_every_other_status(client: OpenAI, llm: ScriptedBackend) -> list[str]:
    """Threads with a run that wrote a file with code, one cancelled, one failed and one
    cut short (`incomplete`)."""
    coder = client.beta.assistants.create(
        model=llm.model(
            ToolCalls([("code_interpreter", json.dumps({"code": SQUARES}))]), Text("Written.")
        ),
        tools=[{"type": "code_interpreter"}],
    )
    coded = client.beta.threads.create_and_run_poll(
        assistant_id=coder.id, thread={"messages": [{"role": "user", "content": "Squares?"}]}
    )
    assert coded.status == "completed"
    written = [
        f for f in client.files.list(purpose="assistants_output") if f.filename == "squares.csv"
    ]
    assert written, "the code's file became a file"
    threads = [coded.thread_id]
    tool = {"tools": [WEATHER]}
    for model, status in (
        (llm.model(ToolCalls([("get_weather", '{"city": "Lima"}')])), "cancelled"),
        (llm.model(Fail(400, "context length exceeded")), "failed"),
        (llm.model(Text("Cut sho", finish="length")), "incomplete"),
    ):
        assistant = client.beta.assistants.create(model=model, **tool)
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Go"}]}
        )
        if status == "cancelled":
            assert run.status == "requires_action"
            client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
            run = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id)
        assert run.status == status, (run.status, run.last_error)
        threads.append(run.thread_id)
    return threads


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
    seen["response"] = client.responses.retrieve(source.response_id).model_dump()
    seen["items"] = [
        item.model_dump() for item in client.conversations.items.list(source.conversation_id)
    ]
    seen["written"] = [
        (f.model_dump(), client.files.content(f.id).read())
        for f in client.files.list(purpose="assistants_output")
    ]
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


def started_copy(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], float]:
    """A copy under way, and when it said its first line (the interpreter's start-up is no
    part of the copy)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "threadline", "store", "copy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "THREADLINE_EMBEDDED": "false", **(env or {})},
    )
    assert process.stderr is not None
    process.stderr.readline()
    return process, time.monotonic()


def read_until(process: subprocess.Popen[str], start: str) -> tuple[float, str]:
    """Read the copy's lines until one starts `threadline: <start>`; when it came, and
    the lines read."""
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if line.startswith(f"threadline: {start}"):
            return time.monotonic(), "".join(lines)
    raise AssertionError(f"the copy ended without a line starting {start!r}")


def killed(process: subprocess.Popen[str]) -> str:
    """Kill the copy (SIGKILL); what it had said on stderr that was not read yet."""
    process.kill()
    _, said = process.communicate()
    return said


def test_a_killed_copy_leaves_an_empty_target_or_a_rerun_completes_it(
    deployment: Deployment, tmp_path: Path
) -> None:
    """Killed at once, at random points, and after the commit (while verifying): a copy
    killed before it said "committing" left the target empty; either way a rerun ends with
    the whole copy, verified."""
    expected = counts(deployment.url)
    with fresh_database() as url:
        timing, began = started_copy(copy_args(deployment, url, tmp_path / "timing"))
        whole = read_until(timing, "verifying")[0] - began
        timing.communicate()
        assert timing.returncode == 0
    rng = random.Random(25)
    kills: list[float | None] = [0.0, *(rng.uniform(0, whole) for _ in range(3)), None]
    outcomes = []
    for trial, seconds in enumerate(kills):
        with fresh_database() as url:
            files = tmp_path / f"trial-{trial}"
            process, _ = started_copy(copy_args(deployment, url, files))
            if seconds is None:
                read_until(process, "verifying")
            else:
                time.sleep(seconds)
            said = killed(process)
            left = counts(url)
            outcome = "empty" if sum(left.values()) == 0 else "whole"
            assert outcome == "empty" or left == expected, left
            if seconds is not None and "committing" not in said:
                assert outcome == "empty", said
            outcomes.append(outcome)
            rerun = store_copy(*copy_args(deployment, url, files))
            assert rerun.returncode == 0, rerun.stderr
            if outcome == "whole":
                assert "already held a copy" in rerun.stdout
            assert "verified" in rerun.stdout
            assert counts(url) == expected
            assert (files / deployment.file_id).read_bytes() == LEAVE
    assert outcomes[0] == "empty" and outcomes[-1] == "whole", outcomes


@pytest.fixture(params=["sqlite", "postgres"])
def served_source(
    request: pytest.FixtureRequest, deployment: Deployment, llm: ScriptedBackend, tmp_path: Path
) -> Iterator[tuple[Server, str, Path]]:
    """A copy of the deployment (on SQLite or PostgreSQL) with a server serving it."""
    files = tmp_path / "source" / "files"
    with fresh_database() as postgres:
        if request.param == "sqlite":
            shutil.copytree(deployment.data_dir, tmp_path / "source")
            url = f"sqlite+aiosqlite:///{tmp_path / 'source' / 'threadline.db'}"
        else:
            url = postgres
            made = store_copy(*copy_args(deployment, url, files))
            assert made.returncode == 0, made.stderr
        env = {"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV}
        if request.param == "postgres":
            env["THREADLINE_FILES_DIR"] = str(files)
        server = Server(database_url=url, data_dir=tmp_path / "source", env=env).start()
        try:
            yield server, url, files
        finally:
            server.stop()


@pytest.mark.parametrize("snapshot", [False, True], ids=["held", "snapshot"])
def test_a_served_source_is_held_read_only_or_copied_as_a_snapshot(
    served_source: tuple[Server, str, Path], deployment: Deployment, snapshot: bool,
    tmp_path: Path,
) -> None:  # fmt: skip
    """The copy is stopped (SIGSTOP) halfway, holding its transactions, while a client
    writes to the server: held, the write waits for the copy to commit; as a snapshot, it
    goes through at once. Either way the copy holds the source as it was when it began."""
    server, url, files = served_source
    expected = counts(url)
    target = f"sqlite+aiosqlite:///{tmp_path / 'target' / 'threadline.db'}"
    args = ["--from", url, "--to", target, "--from-files", str(files)]
    process, _ = started_copy([*args, "--snapshot"] if snapshot else args)
    _, said = read_until(process, "files ")  # inside both transactions
    process.send_signal(signal.SIGSTOP)
    with make_client(server, deployment.key) as client, ThreadPoolExecutor(1) as pool:
        try:
            write = pool.submit(client.beta.assistants.create, model="m", name="during the copy")
            if snapshot:
                assert write.result(timeout=20).name == "during the copy"
            else:
                with pytest.raises(FutureTimeout):
                    write.result(timeout=2)  # waits for the copy
        finally:
            process.send_signal(signal.SIGCONT)
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        written = write.result(timeout=30)
        assert client.beta.assistants.retrieve(written.id).name == "during the copy"
    if snapshot:
        assert "from a snapshot of the source" in out
    else:
        assert "held read-only until the copy commits" in said
        assert "from the source held read-only throughout" in out
    assert counts(target) == expected
    assert counts(url)["assistants"] == expected["assistants"] + 1


def test_a_source_on_an_old_schema_or_missing_is_refused(tmp_path: Path) -> None:
    missing = store_copy(
        "--from", f"sqlite+aiosqlite:///{tmp_path / 'none.db'}",
        "--to", f"sqlite+aiosqlite:///{tmp_path / 'to.db'}",
    )  # fmt: skip
    assert missing.returncode == 2
    assert "no SQLite database" in missing.stderr


def test_a_write_held_past_the_busy_timeout_is_503_and_writes_nothing(
    llm: ScriptedBackend, tmp_path: Path
) -> None:
    """While another process holds SQLite's write lock (as a held copy does), a write that
    waits past THREADLINE_SQLITE_BUSY_TIMEOUT_MS is answered 503 store_busy, and retried
    once the lock is gone it goes through."""
    path = tmp_path / "threadline.db"
    url = f"sqlite+aiosqlite:///{path}"
    env = {"THREADLINE_LLM_BASE_URL": llm.base_url, "THREADLINE_SQLITE_BUSY_TIMEOUT_MS": "300"}
    server = Server(database_url=url, data_dir=tmp_path, env=env).start()
    try:
        key = create_key(url, "held")
        with make_client(server, key) as client:
            holder = sqlite3.connect(path, isolation_level=None, timeout=10)
            holder.execute("BEGIN IMMEDIATE")
            try:
                with pytest.raises(openai.InternalServerError) as raised:
                    client.beta.assistants.create(model="m", name="while held")
            finally:
                holder.rollback()
                holder.close()
            answer = raised.value.response
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "store_busy"
            assert answer.json()["error"]["type"] == "server_error"
            assert answer.headers["retry-after"] == "5"
            assert client.beta.assistants.create(model="m", name="after").name == "after"
            assert [a.name for a in client.beta.assistants.list()] == ["after"]
    finally:
        server.stop()
