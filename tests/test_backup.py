"""`threadline backup` while a server serves (a run streaming), `threadline restore` into an
empty store, and a server on the restored store that reads back every object the same
(through the official SDK); the run caught streaming ends per the recovery rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from tests.conftest import ENGINE_ENV, make_client
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.store import create_key

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
DOCUMENT = b"Cats sleep for about sixteen hours a day.\n\nDogs sleep for about twelve hours.\n"


def threadline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "threadline", *args],
        env={**clean, "THREADLINE_EMBEDDED": "false", **(env or {})},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@dataclass
class Store:
    url: str
    data_dir: Path

    def args(self) -> list[str]:
        return ["--database-url", self.url, "--data-dir", str(self.data_dir)]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Store, Store]]:
    """Two stores of one kind: the deployment backed up, and an empty one to restore into."""
    with ExitStack() as stack:
        made = []
        for role in ("source", "target"):
            data_dir = tmp_path_factory.mktemp(f"backup-{role}-{request.param}")
            if request.param == "sqlite":
                url = f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}"
            else:
                url = stack.enter_context(fresh_database())
            made.append(Store(url, data_dir))
        yield made[0], made[1]


def server_on(store: Store, llm: ScriptedBackend) -> Server:
    return Server(
        database_url=store.url,
        data_dir=store.data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    ).start()


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def read_back(client: OpenAI, ids: dict[str, str]) -> dict[str, Any]:
    """Every object of the deployment as the SDK reads it (the search last: it marks the
    store active)."""
    beta = client.beta
    thread_id, run_id = ids["thread"], ids["run"]
    store = client.vector_stores.retrieve(ids["vector_store"]).model_dump()
    return {
        "assistant": beta.assistants.retrieve(ids["assistant"]).model_dump(),
        "thread": beta.threads.retrieve(thread_id).model_dump(),
        "messages": [m.model_dump() for m in beta.threads.messages.list(thread_id, order="asc")],
        "runs": [r.model_dump() for r in beta.threads.runs.list(thread_id, order="asc")],
        "steps": [
            s.model_dump()
            for s in beta.threads.runs.steps.list(run_id, thread_id=thread_id, order="asc")
        ],
        "file": client.files.retrieve(ids["file"]).model_dump(),
        "bytes": client.files.content(ids["file"]).read(),
        "vector_store": store,
        "store_files": [f.model_dump() for f in client.vector_stores.files.list(store["id"])],
        "search": client.vector_stores.search(
            store["id"], query="How long do cats sleep?"
        ).model_dump(),
    }


def populate(client: OpenAI, llm: ScriptedBackend) -> dict[str, str]:
    model = llm.model(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text("Sunny, 22."))
    assistant = client.beta.assistants.create(
        model=model, name="backed up", instructions="Be brief.", tools=[WEATHER]
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
    )
    assert run.status == "requires_action", run.last_error
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    outputs = [{"tool_call_id": call.id, "output": "22"}]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs
    )
    assert run.status == "completed", run.last_error
    file = client.files.create(file=("cats.txt", DOCUMENT), purpose="assistants")
    store = client.vector_stores.create(name="animals", file_ids=[file.id])
    wait_for(lambda: client.vector_stores.retrieve(store.id).file_counts.completed == 1)
    return {
        "assistant": assistant.id,
        "thread": run.thread_id,
        "run": run.id,
        "file": file.id,
        "vector_store": store.id,
    }


@pytest.fixture(scope="module")
def drill(
    stores: tuple[Store, Store], llm: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A deployment populated, backed up while a run streams, restored into the empty store
    and served: what each side reads and what the commands said."""
    source, target = stores
    directory = tmp_path_factory.mktemp("backup") / "nightly"
    live = server_on(source, llm)
    try:
        key = create_key(source.url, "backed-up")
        with make_client(live, key) as client:
            ids = populate(client, llm)
            before = read_back(client, ids)
            # One slow reply streams through the backup; its retry after the restore
            # answers at once.
            slow = llm.model(Text("word " * 60, chunks=60, chunk_delay=0.1), always=Text("Again."))
            streaming = client.beta.threads.create(messages=[{"role": "user", "content": "Go"}])
            events = client.beta.threads.runs.create(
                thread_id=streaming.id, assistant_id=ids["assistant"], model=slow, stream=True
            )
            first_text = threading.Event()

            def consume() -> None:
                for event in events:
                    if event.event == "thread.message.delta":
                        first_text.set()

            consumer = threading.Thread(target=consume, daemon=True)
            consumer.start()
            assert first_text.wait(30)
            backed_up = threadline("backup", str(directory), *source.args())
            # The run was still streaming when the snapshot was done.
            still_streaming = consumer.is_alive()
            consumer.join(30)
    finally:
        live.stop()
    restored = threadline("restore", str(directory), *target.args())
    again = threadline("restore", str(directory), *target.args())
    served = server_on(target, llm)
    try:
        with make_client(served, key) as client:
            after = read_back(client, ids)

            def ended() -> Any:
                latest = client.beta.threads.runs.list(streaming.id).data[0]
                return latest if latest.status in ("completed", "failed") else None

            run = wait_for(ended)
            recovered = {
                "run": run,
                "steps": list(client.beta.threads.runs.steps.list(run.id, thread_id=streaming.id)),
                "messages": list(client.beta.threads.messages.list(streaming.id, order="asc")),
            }
        yield {
            "source": source,
            "target": target,
            "directory": directory,
            "backed_up": backed_up,
            "still_streaming": still_streaming,
            "restored": restored,
            "again": again,
            "before": before,
            "after": after,
            "recovered": recovered,
        }
    finally:
        served.stop()


def test_the_backup_is_taken_while_a_run_streams(drill: dict[str, Any]) -> None:
    assert drill["backed_up"].returncode == 0, drill["backed_up"].stderr
    assert drill["still_streaming"]
    manifest = json.loads((drill["directory"] / "manifest.json").read_text())
    assert manifest["tables"]["runs"] == 2
    assert manifest["tables"]["assistants"] == 1
    assert manifest["files"] == {"count": 1, "bytes": len(DOCUMENT)}
    assert manifest["missing_files"] == []
    assert manifest["schema_revision"]


def test_every_object_reads_back_the_same(drill: dict[str, Any]) -> None:
    restored = drill["restored"]
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.startswith("threadline: restored ")
    assert "and 1 files" in restored.stdout
    before, after = drill["before"], drill["after"]
    assert after["bytes"] == DOCUMENT
    assert before["search"]["data"], "the search finds the document"
    # A store's `last_active_at` is the time of its latest search: the source's own search
    # (read after the store) may have moved it within the backup.
    assert after["vector_store"].pop("last_active_at") >= before["vector_store"].pop(
        "last_active_at"
    )
    for name in before:
        assert after[name] == before[name], name


def test_the_run_caught_streaming_is_carried_on(drill: dict[str, Any]) -> None:
    """It was in progress in the snapshot: at the restored server's start its open step
    failed, its empty message went, and it ran again (recovery.py)."""
    recovered = drill["recovered"]
    run = recovered["run"]
    assert run.status == "completed", run.last_error
    failed = [step for step in recovered["steps"] if step.status == "failed"]
    assert failed and all(step.last_error.code == "server_error" for step in failed)
    assert any(step.status == "completed" for step in recovered["steps"])
    answers = [m for m in recovered["messages"] if m.role == "assistant"]
    assert [m.content[0].text.value for m in answers] == ["Again."]


def test_a_store_with_data_is_refused(drill: dict[str, Any]) -> None:
    again = drill["again"]
    assert again.returncode == 2
    assert "restore into an empty store" in again.stderr


def test_doctor_says_how_old_the_last_backup_is(drill: dict[str, Any]) -> None:
    source = drill["source"]
    done = threadline("doctor", *source.args())
    line = next(line for line in done.stdout.splitlines() if "last backup" in line)
    assert line.startswith("ok   last backup: ") and str(drill["directory"]) in line
    stale = threadline("doctor", *source.args(), env={"THREADLINE_BACKUP_WARN_HOURS": "0"})
    assert "warn last backup: " in stale.stdout
    assert "older than THREADLINE_BACKUP_WARN_HOURS" in stale.stdout
    never = threadline("doctor", *drill["target"].args())
    assert "warn last backup: none known" in never.stdout


def test_a_file_without_its_bytes_is_named_and_doctor_reads_a_files_dir(
    tmp_path: Path, llm: ScriptedBackend
) -> None:
    """A file row whose bytes are gone when the files are copied (deleted between the
    snapshot and the copy, or lost before it) is listed in the manifest and said; and
    doctor finds the record of the last backup in a files directory kept apart."""
    data_dir, files_dir = tmp_path / "data", tmp_path / "elsewhere-files"
    server = Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}",
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, "THREADLINE_FILES_DIR": str(files_dir),
             **ENGINE_ENV},
    ).start()  # fmt: skip
    try:
        with make_client(server, "local") as client:
            kept = client.files.create(file=("kept.txt", b"kept"), purpose="assistants").id
            lost = client.files.create(file=("lost.txt", b"lost"), purpose="assistants").id
    finally:
        server.stop()
    (files_dir / lost).unlink()
    store = ["--data-dir", str(data_dir), "--files-dir", str(files_dir)]
    done = threadline("backup", str(tmp_path / "backup"), *store)
    assert done.returncode == 0, done.stderr
    assert f"file {lost} was deleted during the backup" in done.stderr
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["missing_files"] == [lost]
    assert (tmp_path / "backup" / "files" / kept).read_bytes() == b"kept"
    doctor = threadline("doctor", *store)
    line = next(line for line in doctor.stdout.splitlines() if "last backup" in line)
    assert line.startswith("ok   last backup: "), doctor.stdout
