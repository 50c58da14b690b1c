"""`threadline export` and `threadline import`: a project moved between deployments reads
back the same through the official SDK, and a folder in the hosted API's shapes imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import ENGINE_ENV, make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.store import create_key, with_db
from threadline.projects import service as projects

CATS = b"Cats sleep for about sixteen hours a day. They are crepuscular hunters."
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def target(llm: ScriptedBackend, tmp_path: Path) -> Iterator[Server]:
    """A second deployment, with a database and files of its own."""
    data_dir = tmp_path / "target"
    srv = Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}",
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    ).start()
    yield srv
    srv.stop()


def threadline(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, as an operator runs it, against `server`'s store."""
    store = ["--database-url", server.database_url, "--data-dir", str(server.data_dir)]
    return subprocess.run(
        [sys.executable, "-m", "threadline", *args, *store],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "THREADLINE_EMBEDDED": "false"},
    )


def wait_ingested(client: OpenAI, store_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while client.vector_stores.retrieve(store_id).file_counts.in_progress:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def populate(client: OpenAI, llm: ScriptedBackend) -> dict[str, Any]:
    file = client.files.create(file=("cats.txt", CATS), purpose="assistants")
    store = client.vector_stores.create(name="pets", metadata={"team": "a"})
    client.vector_stores.files.create_and_poll(
        vector_store_id=store.id, file_id=file.id, attributes={"topic": "cats", "year": 2024}
    )
    model = llm.model(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text("Sunny."))
    assistant = client.beta.assistants.create(
        model=model,
        name="helper",
        instructions="Help.",
        tools=[WEATHER, {"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        metadata={"k": "v"},
    )
    thread = client.beta.threads.create(
        messages=[
            {
                "role": "user",
                "content": "Weather?",
                "attachments": [{"file_id": file.id, "tools": [{"type": "file_search"}]}],
            }
        ],
        metadata={"user": "ada"},
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "22C"}],
    )
    assert run.status == "completed"
    for found in client.vector_stores.list():
        wait_ingested(client, found.id)
    return {"file": file.id, "store": store.id, "assistant": assistant.id, "thread": thread.id}


def everything(client: OpenAI, made: dict[str, Any]) -> dict[str, Any]:
    """Every object of the project as the API returns it (JSON), read through the SDK."""
    thread = made["thread"]
    runs = [r.to_dict() for r in client.beta.threads.runs.list(thread, order="asc")]
    stores = [s.to_dict() for s in client.vector_stores.list(order="asc")]
    return {
        "assistants": [a.to_dict() for a in client.beta.assistants.list(order="asc")],
        "thread": client.beta.threads.retrieve(thread).to_dict(),
        "messages": [m.to_dict() for m in client.beta.threads.messages.list(thread, order="asc")],
        "runs": runs,
        "steps": [
            s.to_dict()
            for run in runs
            for s in client.beta.threads.runs.steps.list(
                run["id"],
                thread_id=thread,
                order="asc",
                include=["step_details.tool_calls[*].file_search.results[*].content"],
            )
        ],
        "files": [f.to_dict() for f in client.files.list()],
        "bytes": client.files.content(made["file"]).read(),
        "stores": stores,
        "store_files": [
            f.to_dict()
            for store in stores
            for f in client.vector_stores.files.list(store["id"], order="asc")
        ],
    }


def test_a_project_moves_to_another_deployment(
    server: Server, target: Server, llm: ScriptedBackend, tmp_path: Path
) -> None:
    name = f"move-{uuid.uuid4().hex[:8]}"
    with make_client(server, create_key(server.database_url, name)) as source:
        made = populate(source, llm)
        before = everything(source, made)
    folder = tmp_path / "export"

    exported = threadline(server, "export", "--project", name, str(folder))
    assert exported.returncode == 0, exported.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"]["project"] == name
    assert manifest["counts"]["runs"] == 1 and manifest["counts"]["run_steps"] == 2
    assert manifest["counts"]["vector_stores"] == 2  # the one made and the thread's own
    # The folder holds the API's own objects.
    assistants = [json.loads(line) for line in (folder / "assistants.jsonl").open()]
    assert assistants == before["assistants"]
    assert (folder / "files" / made["file"]).read_bytes() == CATS

    imported = threadline(target, "import", str(folder), "--project", "moved")
    assert imported.returncode == 0, imported.stderr
    assert "Imported" in imported.stdout
    with make_client(target, create_key(target.database_url, "moved")) as moved:
        for store in moved.vector_stores.list():
            wait_ingested(moved, store.id)
        after = everything(moved, made)
        hits = moved.vector_stores.search(vector_store_id=made["store"], query="cats sleep").data
    assert after == before
    assert [hit.file_id for hit in hits][:1] == [made["file"]]

    # Again: every id is there already; refused, naming them, and nothing written.
    again = threadline(target, "import", str(folder), "--project", "again")
    assert again.returncode == 2
    error = again.stderr
    assert "already exist in the target" in error and made["assistant"] in error
    assert "Nothing was imported" in error
    names = [row[0] for row in with_db(target.database_url, projects.list_projects)]
    assert "again" not in names


def test_an_import_keeps_the_target_projects_quotas(
    server: Server, target: Server, tmp_path: Path
) -> None:
    """A project whose storage quota the folder's files would pass is refused it whole."""
    name = f"quota-{uuid.uuid4().hex[:8]}"
    with make_client(server, create_key(server.database_url, name)) as client:
        client.files.create(file=("big.txt", b"x" * 5000), purpose="assistants")
    folder = tmp_path / "quota"
    assert threadline(server, "export", "--project", name, str(folder)).returncode == 0
    key = create_key(target.database_url, "small")
    limited = threadline(target, "projects", "limits", "small", "--max-file-bytes", "1000")
    assert limited.returncode == 0, limited.stderr
    refused = threadline(target, "import", str(folder), "--project", "small")
    assert refused.returncode == 2
    assert "max_file_bytes" in refused.stderr and "Nothing was imported" in refused.stderr
    with make_client(target, key) as client:
        assert client.files.list().data == []


HOSTED_ASSISTANT = {
    "id": "asst_abc123hosted",
    "object": "assistant",
    "created_at": 1699009709,
    "name": "Math Tutor",
    "description": None,
    "model": "gpt-4o",
    "instructions": "You are a personal math tutor.",
    "tools": [{"type": "code_interpreter"}],
    "tool_resources": {"code_interpreter": {"file_ids": ["file-gone"]}},
    "metadata": {},
    "top_p": 1.0,
    "temperature": 1.0,
    "reasoning_effort": None,
    "response_format": "auto",
    "file_ids": [],  # v1's field, which the hosted API still sent for a while
}
HOSTED_THREAD = {
    "id": "thread_abc123hosted",
    "object": "thread",
    "created_at": 1699012949,
    "metadata": {},
    "tool_resources": {},
}
HOSTED_MESSAGE = {
    "id": "msg_abc123hosted",
    "object": "thread.message",
    "created_at": 1699017614,
    "assistant_id": None,
    "thread_id": "thread_abc123hosted",
    "run_id": None,
    "role": "user",
    "content": [{"type": "text", "text": {"value": "How does AI work?", "annotations": []}}],
    "attachments": [],
    "metadata": {},
    "file_ids": [],
}
ORPHAN = {**HOSTED_MESSAGE, "id": "msg_orphan", "thread_id": "thread_not_exported"}


def test_a_folder_in_the_hosted_apis_shapes_imports(target: Server, tmp_path: Path) -> None:
    folder = tmp_path / "hosted"
    folder.mkdir()
    (folder / "assistants.jsonl").write_text(json.dumps(HOSTED_ASSISTANT) + "\n")
    (folder / "threads.jsonl").write_text(json.dumps(HOSTED_THREAD) + "\n")
    messages = "\n".join(json.dumps(m) for m in (HOSTED_MESSAGE, ORPHAN))
    (folder / "messages.jsonl").write_text(messages + "\n")

    imported = threadline(target, "import", str(folder), "--project", "hosted")
    assert imported.returncode == 0, imported.stderr
    out = imported.stdout
    assert "Skipped 1 object(s)" in out and "msg_orphan" in out
    with make_client(target, create_key(target.database_url, "hosted")) as client:
        assistant = client.beta.assistants.retrieve(HOSTED_ASSISTANT["id"])
        assert (assistant.name, assistant.instructions, assistant.created_at) == (
            "Math Tutor",
            "You are a personal math tutor.",
            1699009709,
        )
        # The file it named was not in the folder: the reference was left out.
        assert assistant.tool_resources.code_interpreter.file_ids == []
        listed = client.beta.threads.messages.list(HOSTED_THREAD["id"]).data
        assert [m.id for m in listed] == [HOSTED_MESSAGE["id"]]
        assert listed[0].content[0].text.value == "How does AI work?"
        with pytest.raises(openai.NotFoundError):
            client.beta.threads.retrieve("thread_not_exported")
