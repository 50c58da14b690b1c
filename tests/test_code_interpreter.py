"""code_interpreter: code run in the sandbox, its outputs in steps and messages, its state
kept per thread, and the sandbox holding against escapes while the server carries on."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.conftest import ENGINE_ENV, make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server

SALES = b"month,amount\njan,10\nfeb,20\nmar,15\n"


@pytest.fixture(scope="module")
def sandbox_server(
    llm: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One server with tight sandbox limits (the sandbox does not depend on the database)."""
    data_dir = tmp_path_factory.mktemp("sandbox")
    server = Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}",
        data_dir=data_dir,
        env={
            "THREADLINE_LLM_BASE_URL": llm.base_url,
            **ENGINE_ENV,
            "THREADLINE_CODE_WALL_SECONDS": "8",
            "THREADLINE_CODE_DISK_MB": "32",
            "THREADLINE_CODE_MEMORY_MB": "1536",
            "THREADLINE_CODE_SESSION_MEMORY_MB": "384",
            "THREADLINE_CODE_OUTPUT_MB": "8",
            "SERVER_SECRET_FOR_TESTS": "do-not-leak",
        },
    ).start()
    yield server
    server.stop()


@pytest.fixture
def client(sandbox_server: Server) -> Iterator[OpenAI]:
    with make_client(sandbox_server, "local") as sdk:
        yield sdk


def run_code(client: OpenAI, llm: ScriptedBackend, code: str, thread_id: str | None = None,
             answer: str = "Done.", **assistant_options):  # fmt: skip
    model = llm.model(ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text(answer))
    assistant = client.beta.assistants.create(
        model=model, tools=[{"type": "code_interpreter"}], **assistant_options
    )
    if thread_id is None:
        thread_id = client.beta.threads.create(messages=[{"role": "user", "content": "Go"}]).id
    else:
        client.beta.threads.messages.create(thread_id, role="user", content="Again")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread_id, order="asc").data
    call = steps[0].step_details.tool_calls[0]
    assert call.type == "code_interpreter" and call.code_interpreter.input == code
    logs = "".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")
    message = client.beta.threads.messages.list(thread_id).data[0]
    return run, call, logs, message, llm.received(model)


def test_print_plot_read_and_write(client: OpenAI, llm: ScriptedBackend) -> None:
    sales = client.files.create(file=("sales.csv", SALES), purpose="assistants")
    code = (
        "import pandas as pd\nimport matplotlib.pyplot as plt\n"
        "df = pd.read_csv('/mnt/data/sales.csv')\nprint('total', df.amount.sum())\n"
        "df.plot(x='month', y='amount')\n"
        "(df.assign(amount=df.amount * 2)).to_csv('/mnt/data/doubled.csv', index=False)\n"
        "df.amount.mean()"
    )
    answer = "Total 45; see [the file](sandbox:/mnt/data/doubled.csv)."
    _, call, logs, message, sent = run_code(
        client, llm, code, answer=answer,
        tool_resources={"code_interpreter": {"file_ids": [sales.id]}},
    )  # fmt: skip
    assert "total 45" in logs and "15.0" in logs
    (image,) = [o for o in call.code_interpreter.outputs if o.type == "image"]
    figure = client.files.retrieve(image.image.file_id)
    assert figure.purpose == "assistants_output" and figure.filename.endswith(".png")
    assert client.files.content(figure.id).read().startswith(b"\x89PNG")

    # The answer shows the figure, and links the written file.
    assert message.content[0].type == "image_file"
    assert message.content[0].image_file.file_id == figure.id
    text = message.content[1].text
    (link,) = text.annotations
    assert link.type == "file_path"
    assert text.value[link.start_index : link.end_index] == "sandbox:/mnt/data/doubled.csv"
    written = client.files.retrieve(link.file_path.file_id)
    assert (written.filename, written.purpose) == ("doubled.csv", "assistants_output")
    assert client.files.content(written.id).read() == b"month,amount\njan,20\nfeb,40\nmar,30\n"

    # The model read the output.
    tool_message = sent[1]["messages"][-1]
    assert tool_message["role"] == "tool" and "total 45" in tool_message["content"]
    assert "sandbox:/mnt/data/doubled.csv" in tool_message["content"]


def test_the_session_lives_across_runs_of_a_thread(client: OpenAI, llm: ScriptedBackend) -> None:
    run, _, _, _, _ = run_code(client, llm, "counter = 41")
    _, _, logs, _, _ = run_code(client, llm, "counter + 1", thread_id=run.thread_id)
    assert logs.strip() == "42"
    _, _, logs, _, _ = run_code(client, llm, "counter")  # another thread, another session
    assert "NameError" in logs


def test_attachments_are_in_mnt_data(client: OpenAI, llm: ScriptedBackend) -> None:
    notes = client.files.create(file=("notes.txt", b"remember the milk"), purpose="assistants")
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Read it",
                   "attachments": [{"file_id": notes.id, "tools": [{"type": "code_interpreter"}]}]}]
    )  # fmt: skip
    _, _, logs, _, _ = run_code(client, llm, "open('/mnt/data/notes.txt').read()", thread.id)
    assert "remember the milk" in logs


def test_errors_come_back_to_the_model(client: OpenAI, llm: ScriptedBackend) -> None:
    _, _, logs, _, sent = run_code(client, llm, "x = [1, 2]\nx[5]")
    assert "IndexError: list index out of range" in logs
    assert "IndexError" in sent[1]["messages"][-1]["content"]
    _, _, logs, _, _ = run_code(client, llm, "def broken(:\n    pass")
    assert "SyntaxError" in logs


ESCAPES = {
    "the database": (
        "import os\nprint(sorted(os.listdir('/')))\n"
        "open('{data_dir}/threadline.db', 'rb').read()",
        ["FileNotFoundError"],
    ),
    "the environment": (
        "import os\nprint(dict(os.environ))", ["PATH"],
    ),
    "the network": (
        "import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)",
        ["ConnectionRefusedError"],
    ),
    "a fork bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError as error:\n"
        "        print('forks stopped:', error.strerror)\n        break",
        # 256 forked Pythons, each with pages of its own, come near the session's 384 MiB:
        # the process limit or the memory budget stops them, whichever comes first.
        [("forks stopped", "used more than 384 MiB of memory in all")],
    ),
    "10 GB of memory": (
        "import numpy as np\nblock = np.ones(10 * 1024**3 // 8)", ["MemoryError", "allocate"],
    ),
    "an endless loop": ("while True:\n    pass", ["timed out after 8 seconds"]),
    "a full disk": (
        "chunk = b'0' * 1024 * 1024\nwith open('/mnt/data/fill.bin', 'wb') as f:\n"
        "    while True:\n        f.write(chunk)", ["No space left on device"],
    ),
    "writing outside /mnt/data": (
        "for path in ['/etc/owned', '/usr/owned', '/work/owned', '/root/owned']:\n"
        "    try:\n        open(path, 'w')\n        print('WROTE', path)\n"
        "    except OSError as error:\n        print(path, type(error).__name__)",
        ["/etc/owned", "/usr/owned"],
    ),
}  # fmt: skip


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_escapes_are_stopped(
    escape: str, client: OpenAI, llm: ScriptedBackend, sandbox_server: Server
) -> None:
    template, expected = ESCAPES[escape]
    code = template.format(data_dir=sandbox_server.data_dir, port=sandbox_server.port)
    started = time.monotonic()
    _, _, logs, _, _ = run_code(client, llm, code)
    for text in expected:
        assert any(option in logs for option in ((text,) if isinstance(text, str) else text)), logs
    assert "do-not-leak" not in logs and "THREADLINE" not in logs
    assert "WROTE" not in logs
    assert time.monotonic() - started < 60
    # The server is healthy and other runs go on.
    assert client.beta.assistants.list().data is not None
    _, _, logs, _, _ = run_code(client, llm, "print(6 * 7)")
    assert logs.strip() == "42"


def stored_bytes(server: Server) -> int:
    return sum(path.stat().st_size for path in (server.data_dir / "files").rglob("*"))


def test_processes_together_are_held_to_the_session_memory(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """Six processes of 96 MiB each are within the per-process limit (1536 MiB) but not the
    session's (384 MiB in all): the session is stopped, the model told, and the thread's
    next execution runs in a new session."""
    run, _, _, _, _ = run_code(client, llm, "kept = 'before'")
    code = (
        "import os, time\nchildren = []\nfor _ in range(6):\n    pid = os.fork()\n"
        "    if pid == 0:\n        block = b'x' * (96 * 1024 * 1024)\n        time.sleep(60)\n"
        "        os._exit(0)\n    children.append(pid)\n"
        "for pid in children:\n    os.waitpid(pid, 0)\nprint('all of them ran')"
    )
    started = time.monotonic()
    _, call, logs, _, sent = run_code(client, llm, code, thread_id=run.thread_id)
    assert time.monotonic() - started < 8, "stopped by the wall-clock limit, not the budget"
    assert "used more than 384 MiB of memory in all" in logs, logs
    assert "all of them ran" not in logs
    assert [o.type for o in call.code_interpreter.outputs] == ["logs"]
    assert "384 MiB" in sent[1]["messages"][-1]["content"]
    assert client.beta.assistants.list().data is not None
    _, _, logs, _, _ = run_code(client, llm, "print(6 * 7)\n'kept' in globals()", run.thread_id)
    assert logs.split() == ["42", "False"]
    # Under the budget, several processes are fine.
    code = code.replace("range(6)", "range(2)").replace("time.sleep(60)", "time.sleep(1)")
    _, _, logs, _, _ = run_code(client, llm, code, thread_id=run.thread_id)
    assert "all of them ran" in logs


def test_the_outputs_of_an_execution_are_capped(
    client: OpenAI, llm: ScriptedBackend, sandbox_server: Server
) -> None:
    """Four 3 MiB files against an output cap of 8 MiB: two are kept, the model is told of
    the others, and each execution adds no more than the cap to the files directory."""
    tag = uuid.uuid4().hex[:8]
    code = (
        "import os\n"
        f"for name in 'abcd':\n    with open(f'/mnt/data/{tag}-{{name}}.bin', 'wb') as f:\n"
        "        f.write(os.urandom(3 * 1024 * 1024))"
    )
    before = stored_bytes(sandbox_server)
    run, _, _, _, sent = run_code(client, llm, code)
    told = sent[1]["messages"][-1]["content"]
    for name in "ab":
        assert f"[wrote sandbox:/mnt/data/{tag}-{name}.bin]" in told
    for name in "cd":
        assert f"sandbox:/mnt/data/{tag}-{name}.bin was not returned" in told
        assert "may total 8 MiB" in told
    kept = [f for f in client.files.list(purpose="assistants_output") if tag in f.filename]
    assert sorted(f.filename for f in kept) == [f"{tag}-a.bin", f"{tag}-b.bin"]
    assert 0 < stored_bytes(sandbox_server) - before <= 8 * 1024 * 1024
    # Written again, they are returned again, within the cap again.
    before = stored_bytes(sandbox_server)
    run_code(client, llm, code, thread_id=run.thread_id)
    assert 0 < stored_bytes(sandbox_server) - before <= 8 * 1024 * 1024
    # What was not returned is still there for the code.
    _, _, logs, _, _ = run_code(
        client, llm, f"os.path.getsize('/mnt/data/{tag}-d.bin')", thread_id=run.thread_id
    )
    assert logs.strip() == str(3 * 1024 * 1024)


def test_a_reply_over_the_read_limit_ends_the_call_clearly(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """Huge output and huge values come back shortened; a reply larger than the server
    reads (the code can write to the session's own reply channel) stops the session with
    a clear output, and the thread's next execution works in a new session."""
    run, _, logs, _, _ = run_code(client, llm, "kept = 1\nprint('x' * 30_000_000)")
    assert 0 < len(logs) < 30_000 and logs.startswith("xxx")
    _, _, logs, _, _ = run_code(client, llm, "'y' * 30_000_000", thread_id=run.thread_id)
    assert 0 < len(logs) < 30_000 and logs.startswith("'yyy")
    forged = "import __main__\n__main__.replies.write('z' * (24 * 1024 * 1024) + '\\n')"
    _, call, logs, _, sent = run_code(client, llm, forged, thread_id=run.thread_id)
    assert "reply to the server was larger than 19 MiB" in logs, logs
    assert "It was restarted" in sent[1]["messages"][-1]["content"]
    assert [o.type for o in call.code_interpreter.outputs] == ["logs"]
    _, _, logs, _, _ = run_code(client, llm, "print(6 * 7)\n'kept' in globals()", run.thread_id)
    assert logs.split() == ["42", "False"]
    # A reply that is not what the session says either.
    forged = "import __main__\n__main__.replies.write('[1, 2]\\n')"
    _, _, logs, _, _ = run_code(client, llm, forged, thread_id=run.thread_id)
    assert "a reply it could not read" in logs, logs
    _, _, logs, _, _ = run_code(client, llm, "print(6 * 7)", thread_id=run.thread_id)
    assert logs.strip() == "42"


WEIRD_NAMES = ["..", ".", "../../etc/passwd", "a\\b\\..", "  ", "\x7f.txt",
               "é" * 200 + ".csv", "x" * 300, "-rf", "same.csv", "same.csv"]  # fmt: skip


def test_files_with_any_name_enter_the_sandbox_safely(client: OpenAI, llm: ScriptedBackend) -> None:
    uploads = [
        client.files.create(file=(name, f"content {index}".encode()), purpose="assistants")
        for index, name in enumerate(WEIRD_NAMES)
    ]
    code = (
        "import json, os\nfiles = {}\nfor name in os.listdir('/mnt/data'):\n"
        "    files[name] = open(os.path.join('/mnt/data', name)).read()\n"
        "print(json.dumps(files))"
    )
    resources = {"code_interpreter": {"file_ids": [upload.id for upload in uploads]}}
    _, _, logs, _, sent = run_code(client, llm, code, tool_resources=resources)
    listed = json.loads(logs)
    assert sorted(listed.values()) == sorted(f"content {i}" for i in range(len(WEIRD_NAMES)))
    by_content = {content: name for name, content in listed.items()}
    names = [by_content[f"content {i}"] for i in range(len(WEIRD_NAMES))]
    for name in names:
        assert name not in ("", ".", "..") and "/" not in name
        assert len(name.encode()) <= 255 and name == name.strip()
        assert not any(ord(char) < 32 or ord(char) == 127 for char in name)
    assert names[0] == uploads[0].id and names[1] == uploads[1].id  # ".." and "."
    assert names[2] == "passwd" and names[4] == uploads[4].id
    assert names[5] == "_.txt" and names[6].endswith(".csv") and names[8] == "-rf"
    assert names[9] == "same.csv" and names[10] == f"same-{uploads[10].id}.csv"
    # The model is told where the renamed files are.
    told = sent[1]["messages"][-1]["content"]
    assert f"[{uploads[0].id} ('..') is /mnt/data/{uploads[0].id}]" in told
    assert f"is /mnt/data/same-{uploads[10].id}.csv]" in told
    # Other threads of the assistant run too.
    _, _, logs, _, _ = run_code(client, llm, "print(6 * 7)", tool_resources=resources)
    assert logs.splitlines()[-1] == "42"


def test_files_that_do_not_fit_in_mnt_data_are_told(client: OpenAI, llm: ScriptedBackend):
    """/mnt/data holds 32 MiB here: a 40 MiB file is not sent, and of two 20 MiB files the
    second finds the disk full; the model is told, and the session goes on."""
    big = client.files.create(file=("big.bin", b"b" * (40 << 20)), purpose="assistants")
    one, two = (
        client.files.create(file=(f"{name}.bin", b"h" * (20 << 20)), purpose="assistants")
        for name in ("one", "two")
    )
    resources = {"code_interpreter": {"file_ids": [big.id, one.id, two.id]}}
    code = "import os\nsorted(os.listdir('/mnt/data'))"
    run, _, logs, _, sent = run_code(client, llm, code, tool_resources=resources)
    assert logs.strip() == "['one.bin']"
    told = sent[1]["messages"][-1]["content"]
    assert f"[{big.id} ('big.bin') is not in /mnt/data: its 40.0 MiB do not fit" in told
    assert f"[{two.id} ('two.bin') could not be put in /mnt/data: No space left" in told
    _, _, logs, _, _ = run_code(client, llm, "print(6 * 7)", thread_id=run.thread_id)
    assert logs.strip() == "42"


def test_sandbox_names() -> None:
    from threadline.tools.code_interpreter.tool import sandbox_name

    assert sandbox_name("report.csv", "file-1", set()) == "report.csv"
    assert sandbox_name("..", "file-1", set()) == "file-1"
    assert sandbox_name("dir/...", "file-1", set()) == "file-1"
    assert sandbox_name("C:\\Users\\me\\data.xlsx", "file-1", set()) == "data.xlsx"
    assert sandbox_name("a\x00b\nc", "file-1", set()) == "a_b_c"
    assert sandbox_name("\ud800.txt", "file-1", set()) == "_.txt"
    long = sandbox_name("é" * 300 + ".tar.gz", "file-1", set())
    assert len(long.encode()) <= 255 and long.endswith("é.gz")
    taken = {"data.csv"}
    assert sandbox_name("data.csv", "file-2", taken) == "data-file-2.csv"
    assert len(sandbox_name("x" * 300, "file-2", {"x" * 255}).encode()) == 255
    taken = {"data.csv", "data-file-2.csv"}
    assert sandbox_name("data.csv", "file-2", taken) == "data-file-2-2.csv"


def test_a_cancelled_run_kills_its_code(client: OpenAI, llm: ScriptedBackend) -> None:
    marker = str(4000 + uuid.uuid4().int % 1000)
    code = f"import subprocess\nsubprocess.run(['sleep', '{marker}'])"
    model = llm.model(ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text("x"))
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Sleep"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)

    def sleeping() -> bool:
        for entry in Path("/proc").iterdir():
            try:
                if (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", marker.encode()]:
                    return True
            except OSError:
                continue
        return False

    deadline = time.monotonic() + 30
    while not sleeping():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    deadline = time.monotonic() + 10
    while client.beta.threads.runs.retrieve(run.id, thread_id=thread.id).status != "cancelled":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.status == "cancelled"
    deadline = time.monotonic() + 5
    while sleeping():
        assert time.monotonic() < deadline, "the code's process outlived the cancel"
        time.sleep(0.1)


def test_code_and_outputs_stream(client: OpenAI, llm: ScriptedBackend, sandbox_server: Server):
    import httpx

    from tests.support.sse import stream_post
    from tests.support.wire import HOOKS

    code = "for i in range(3):\n    print('line', i)"
    model = llm.model(ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text("3."))
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Count"}])
    # Each event checked against the document as it is read (`HOOKS`), output deltas included.
    with httpx.Client(base_url=sandbox_server.base_url, timeout=60, event_hooks=HOOKS) as raw:
        events = stream_post(
            raw, f"/threads/{thread.id}/runs", {"assistant_id": assistant.id, "stream": True}
        )
    deltas = [
        data["delta"]["step_details"]["tool_calls"][0]
        for name, data in events
        if name == "thread.run.step.delta"
    ]
    first, *rest = deltas
    assert first["type"] == "code_interpreter" and first["id"].startswith("call_")
    assert first["code_interpreter"] == {"input": "", "outputs": []}
    inputs = "".join(d["code_interpreter"].get("input", "") for d in rest)
    assert inputs == code
    (outputs,) = [
        d["code_interpreter"]["outputs"] for d in rest if "outputs" in d["code_interpreter"]
    ]
    assert outputs == [{"index": 0, "type": "logs", "logs": "line 0\nline 1\nline 2\n"}]
    completed = next(data for name, data in events if name == "thread.run.step.completed")
    call = completed["step_details"]["tool_calls"][0]
    assert call["code_interpreter"] == {
        "input": code,
        "outputs": [{"type": "logs", "logs": "line 0\nline 1\nline 2\n"}],
    }


def test_without_bubblewrap_no_code_runs(llm: ScriptedBackend, tmp_path: Path) -> None:
    """A server that cannot sandbox says so to the model, and runs nothing."""
    server = Server(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}",
        data_dir=tmp_path,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV, "PATH": str(tmp_path)},
    ).start()
    try:
        with make_client(server, "local") as client:
            code = "open('/mnt/data/proof.txt', 'w').write('ran')"
            _, call, logs, _, sent = run_code(client, llm, code)
        assert "needs bubblewrap" in logs
        assert [o.type for o in call.code_interpreter.outputs] == ["logs"]
        assert "needs bubblewrap" in sent[1]["messages"][-1]["content"]
    finally:
        server.stop()


@pytest.mark.anyio
async def test_idle_sessions_are_reaped() -> None:
    from threadline.tools.code_interpreter.sandbox import Limits
    from threadline.tools.code_interpreter.sessions import Sessions

    sessions = Sessions(Limits(), idle_seconds=0.5)
    try:
        session = await sessions.get("thread_a")
        assert (await session.run("x = 1\nx", sessions.limits)).logs == "1\n"
        assert await sessions.get("thread_a") is session  # reused while in use
        deadline = time.monotonic() + 10
        while session.alive:
            assert time.monotonic() < deadline, "an idle session was not reaped"
            await asyncio.sleep(0.1)
        fresh = await sessions.get("thread_a")
        assert fresh is not session
        assert "NameError" in (await fresh.run("x", sessions.limits)).logs
    finally:
        await sessions.aclose()


def test_a_python_under_tmp_is_bound_into_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sandbox's /tmp is a fresh tmpfs: an environment that lives under the host's /tmp
    # (a checkout there) must still be bound in, read-only, with its parents made.
    from threadline.tools.code_interpreter import sandbox

    monkeypatch.setattr("sys.prefix", "/tmp/checkout/.venv")
    args = sandbox.command(sandbox.Limits(), "print(1)")
    binds = [tuple(args[i + 1 : i + 3]) for i, arg in enumerate(args) if arg == "--ro-bind"]
    assert ("/tmp/checkout/.venv", "/tmp/checkout/.venv") in binds
    assert ("--dir", "/tmp/checkout") in itertools.pairwise(args)


def test_the_cgroup_for_sessions_is_found_or_the_reason_told(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How the server picks where session cgroups go, on a fake cgroup v2 tree (the files
    the kernel would make in a new directory are made by the test). The kernel's side, the
    cap itself, is not exercised here: it needs a host with cgroup v2 and its memory
    controller (the watchdog holds on hosts without, as the test above shows)."""
    import errno

    from threadline.tools.code_interpreter import budget

    root, own, pid = tmp_path / "cgroup", tmp_path / "cgroup/svc", str(os.getpid())
    parent, leaf = own / f"threadline-{pid}", own / "threadline-server"
    for group in (parent, leaf):
        group.mkdir(parents=True)
        (group / "cgroup.subtree_control").write_text("")
    (root / "cgroup.controllers").write_text("cpu memory pids")
    (own / "cgroup.controllers").write_text("cpu memory pids")
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text(f"{pid}\n")
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/svc\n")

    def find(setting: str = "auto") -> Path:
        return budget.cgroup_parent(setting, root, self_cgroup)

    with pytest.raises(budget.CgroupUnavailable, match="turned off"):
        find("off")
    assert find() == parent
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (parent / "cgroup.subtree_control").read_text() == "+memory +pids"

    # The server's cgroup holds processes: alone there, the server moves aside first.
    (own / "cgroup.subtree_control").write_text("")
    real_write, refused = budget._write, []

    def write(path: Path, value: str) -> None:
        if path == own / "cgroup.subtree_control" and not refused:
            refused.append(path)
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        real_write(path, value)

    monkeypatch.setattr(budget, "_write", write)
    assert find() == parent and refused
    assert (leaf / "cgroup.procs").read_text() == pid
    # Not alone: no cgroup, and why.
    (own / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text(f"{pid}\n1\n")
    refused.clear()
    with pytest.raises(budget.CgroupUnavailable, match="other processes"):
        find()
    # Without the memory controller, or without cgroup v2.
    (own / "cgroup.controllers").write_text("cpu pids")
    with pytest.raises(budget.CgroupUnavailable, match="memory controller is not available"):
        find()
    (root / "cgroup.controllers").unlink()
    with pytest.raises(budget.CgroupUnavailable, match="not a cgroup v2 hierarchy"):
        find()

    # A directory named in the settings: this server's sessions go in a group of its own.
    named = tmp_path / "cgroup/threadline.slice"
    (named / f"threadline-{pid}").mkdir(parents=True)
    (named / "cgroup.subtree_control").write_text("")
    (named / f"threadline-{pid}/cgroup.subtree_control").write_text("")
    (root / "cgroup.controllers").write_text("cpu memory pids")
    assert find(str(named)) == named / f"threadline-{pid}"
    assert (named / "cgroup.subtree_control").read_text() == "+memory +pids"

    # A session's cgroup: the budget plus its tmpfs mounts, no swap, the process limit.
    group = budget.make_session_cgroup(parent, "session-0", 3 * 1024**3, 256)
    assert (group / "memory.max").read_text() == str(3 * 1024**3)
    assert (group / "pids.max").read_text() == "256"
    (group / "cgroup.procs").write_text("")
    budget.joiner(group)()
    assert (group / "cgroup.procs").read_text() == pid
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert budget.oom_killed(group)
