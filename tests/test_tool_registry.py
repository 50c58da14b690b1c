"""Built-in tools as plug-ins: a small tool registered by setting runs through real runs,
streamed and polled, and its calls are restated to the model in later turns."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.sse import stream_post
from tests.support.store import create_key
from tests.support.wire import HOOKS

PLUGIN = "tests.support.word_count_tool:WordCountTool"


@pytest.fixture
def plugin_server(spawn: ServerFactory) -> Server:
    return spawn({"THREADLINE_TOOLS": PLUGIN})


@pytest.fixture
def raw(plugin_server: Server) -> Iterator[httpx.Client]:
    # Raw HTTP: the official SDK knows only the spec's tool types.
    key = create_key(plugin_server.database_url, "plugin")
    with httpx.Client(
        event_hooks=HOOKS,
        base_url=plugin_server.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    ) as client:
        yield client


def poll(raw: httpx.Client, thread_id: str, run_id: str) -> dict:
    for _ in range(600):
        run = raw.get(f"/threads/{thread_id}/runs/{run_id}").json()
        if run["status"] not in ("queued", "in_progress"):
            return run
        time.sleep(0.05)
    raise AssertionError("the run did not end")


def test_a_registered_tool_runs_in_a_run(raw: httpx.Client, llm: ScriptedBackend) -> None:
    model = llm.model(
        ToolCalls([("word_count", '{"text": "the quick brown fox"}')]),
        Text("It has 4 words."),
        Text("Still 4."),
    )
    assistant = raw.post("/assistants", json={"model": model, "tools": [{"type": "word_count"}]})
    assert assistant.status_code == 200, assistant.text
    assert assistant.json()["tools"] == [{"type": "word_count"}]
    run = raw.post(
        "/threads/runs",
        json={
            "assistant_id": assistant.json()["id"],
            "thread": {"messages": [{"role": "user", "content": "Count: the quick brown fox"}]},
        },
    ).json()
    run = poll(raw, run["thread_id"], run["id"])
    assert run["status"] == "completed", run

    steps = raw.get(f"/threads/{run['thread_id']}/runs/{run['id']}/steps?order=asc").json()
    call_step, message_step = steps["data"]
    (call,) = call_step["step_details"]["tool_calls"]
    assert call["type"] == "word_count"
    assert call["word_count"] == {"text": "the quick brown fox", "count": 4}
    assert message_step["type"] == "message_creation"

    # The model saw the tool's definition, then the call and its output.
    first, second = llm.received(model)[:2]
    assert [t["function"]["name"] for t in first["tools"]] == ["word_count"]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call["id"],
        "content": "4 words",
    }

    message = raw.get(f"/threads/{run['thread_id']}/messages").json()["data"][0]
    text = message["content"][0]["text"]
    assert text["value"] == "It has 4 words."
    (annotation,) = text["annotations"]
    assert text["value"][annotation["start_index"] : annotation["end_index"]] == "4"

    # A later run on the thread restates the earlier call from the stored step.
    raw.post(f"/threads/{run['thread_id']}/messages", json={"role": "user", "content": "And now?"})
    again = raw.post(
        f"/threads/{run['thread_id']}/runs", json={"assistant_id": assistant.json()["id"]}
    ).json()
    assert poll(raw, run["thread_id"], again["id"])["status"] == "completed"
    restated = llm.received(model)[2]["messages"]
    assert {"role": "tool", "tool_call_id": call["id"], "content": "4 words"} in restated


def test_a_registered_tool_streams_its_call(raw: httpx.Client, llm: ScriptedBackend) -> None:
    model = llm.model(ToolCalls([("word_count", '{"text": "one two"}')]), Text("2 words."))
    assistant = raw.post(
        "/assistants", json={"model": model, "tools": [{"type": "word_count"}]}
    ).json()
    thread = raw.post("/threads", json={}).json()
    events = stream_post(
        raw, f"/threads/{thread['id']}/runs", {"assistant_id": assistant["id"], "stream": True}
    )
    deltas = [
        data["delta"]["step_details"]["tool_calls"][0]
        for name, data in events
        if name == "thread.run.step.delta"
    ]
    assert deltas[0]["type"] == "word_count" and deltas[0]["word_count"]["count"] is None
    assert deltas[-1] == {"index": 0, "type": "word_count", "word_count": {"count": 2}}
    assert any("written" in delta["word_count"] for delta in deltas)
    names = [name for name, _ in events]
    assert names[-2:] == ["thread.run.completed", "done"]


def test_an_unregistered_type_is_refused(http: httpx.Client) -> None:
    response = http.post("/assistants", json={"model": "x", "tools": [{"type": "word_count"}]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tools[0].type"
