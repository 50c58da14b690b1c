"""SSE transcripts, event by event, against the contract's event orders and Threadline's
recorded transcripts (tests/fixtures/sse)."""

from __future__ import annotations

import time

import httpx
from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.sse import frames, stream_post
from tests.support.transcripts import (
    AFTER_OUTPUTS,
    FUNCTION_RUN,
    TEXT_RUN,
    collapse,
    matches_recorded,
)
from tests.test_runs import WEATHER

KIND_OF_OBJECT = {
    "thread.created": "thread",
    "thread.run.": "thread.run",
    "thread.run.step.": "thread.run.step",
    "thread.message.": "thread.message",
}


def check_frames(events: list[tuple[str, object]]) -> None:
    """Every frame's data fits its event: objects of the right kind, deltas after their
    object's `.created`, a bare `[DONE]` at the end only."""
    created: set[str] = set()
    for index, (name, data) in enumerate(events):
        if name == "done":
            assert data == "[DONE]" and index == len(events) - 1
            continue
        assert isinstance(data, dict)
        if name.endswith(".delta"):
            assert data["object"] == name
            assert data["id"] in created, f"{name} before its object was created"
            continue
        expected = next(kind for prefix, kind in sorted(KIND_OF_OBJECT.items(), reverse=True)
                        if name.startswith(prefix) or name == prefix)  # fmt: skip
        assert data["object"] == expected, (name, data["object"])
        if name.endswith(".created"):
            created.add(data["id"])
        assert data["id"] in created or (name.startswith("thread.run.") and "step" not in name)


def test_text_run_transcript(client: OpenAI, http: httpx.Client, llm: ScriptedBackend) -> None:
    model = llm.model(Text("Hello! How can I assist you today?", chunks=6))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    events = stream_post(
        http, f"/threads/{thread.id}/runs", {"assistant_id": assistant.id, "stream": True}
    )
    names = [name for name, _ in events]
    assert collapse(names) == TEXT_RUN
    matches_recorded("create_run", events)
    check_frames(events)
    deltas = [data["delta"]["content"][0] for name, data in events if name.endswith("delta")]
    assert "".join(d["text"]["value"] for d in deltas) == "Hello! How can I assist you today?"
    # The first delta of a text part carries its annotations; later ones only the fragment.
    assert deltas[0]["text"]["annotations"] == [] and "annotations" not in deltas[1]["text"]
    assert all(d["index"] == 0 and d["type"] == "text" for d in deltas)
    completed = dict(events)["thread.run.completed"]
    assert completed["usage"] == {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}
    assert dict(events)["thread.run.created"]["usage"] is None


def test_thread_and_run_transcript(http: httpx.Client, client: OpenAI, llm: ScriptedBackend):
    assistant = client.beta.assistants.create(model=llm.model(Text("Hi.")))
    events = stream_post(
        http,
        "/threads/runs",
        {"assistant_id": assistant.id, "stream": True,
         "thread": {"messages": [{"role": "user", "content": "Hey"}]}},
    )  # fmt: skip
    names = collapse([name for name, _ in events])
    assert names == ["thread.created", *TEXT_RUN]
    matches_recorded("create_thread_and_run", events)
    check_frames(events)
    assert events[0][1]["id"] == events[1][1]["thread_id"]


def test_function_run_and_outputs_transcripts(
    http: httpx.Client, client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(
        ToolCalls([("get_weather", '{"location": "San Francisco, CA", "unit": "fahrenheit"}')]),
        Text("It is 70 degrees.", chunks=5),
    )
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
    events = stream_post(
        http, f"/threads/{thread.id}/runs", {"assistant_id": assistant.id, "stream": True}
    )
    names = collapse([name for name, _ in events])
    assert names == FUNCTION_RUN
    matches_recorded("create_run_with_functions", events)
    check_frames(events)
    step_deltas = [data["delta"]["step_details"]["tool_calls"][0]
                   for name, data in events if name == "thread.run.step.delta"]  # fmt: skip
    first, *rest = step_deltas
    assert first["id"].startswith("call_") and first["type"] == "function"
    assert first["function"] == {"name": "get_weather", "arguments": "", "output": None}
    assert all(set(d) == {"index", "type", "function"} for d in rest)
    arguments = "".join(d["function"]["arguments"] for d in rest)
    assert arguments == '{"location": "San Francisco, CA", "unit": "fahrenheit"}'
    paused = dict(events)["thread.run.requires_action"]
    call = paused["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    assert call == {"id": first["id"], "type": "function",
                    "function": {"name": "get_weather", "arguments": arguments}}  # fmt: skip

    resumed = stream_post(
        http,
        f"/threads/{thread.id}/runs/{paused['id']}/submit_tool_outputs",
        {"tool_outputs": [{"tool_call_id": call["id"], "output": "70F"}], "stream": True},
    )
    names = collapse([name for name, _ in resumed])
    assert names == AFTER_OUTPUTS
    matches_recorded("submit_tool_outputs", resumed)
    step = resumed[0][1]
    assert step["step_details"]["tool_calls"][0]["function"]["output"] == "70F"
    assert step["usage"]["total_tokens"] == 45


def test_a_client_that_leaves_does_not_stop_the_run(
    http: httpx.Client, client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("a long answer", per_char=True, chunk_delay=0.05))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Go"}])
    with http.stream(
        "POST", f"/threads/{thread.id}/runs", json={"assistant_id": assistant.id, "stream": True}
    ) as response:
        for name, data in frames(response):
            if name == "thread.run.created":
                run_id = data["id"]
            if name == "thread.message.delta":
                break  # hang up mid-answer
    deadline = time.monotonic() + 10
    while (run := client.beta.threads.runs.retrieve(run_id, thread_id=thread.id)).status != (
        "completed"
    ):
        assert time.monotonic() < deadline, run.status
        time.sleep(0.05)
    answer = client.beta.threads.messages.list(thread.id).data[0]
    assert answer.content[0].text.value == "a long answer"


def test_stream_ends_with_failed_run(http: httpx.Client, client: OpenAI, llm: ScriptedBackend):
    from tests.support.scripted_backend import Fail

    assistant = client.beta.assistants.create(model=llm.model(always=Fail(500)))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    events = stream_post(
        http, f"/threads/{thread.id}/runs", {"assistant_id": assistant.id, "stream": True}
    )
    names = [name for name, _ in events]
    assert names == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.failed",
        "done",
    ]
    failed = dict(events)["thread.run.failed"]
    assert failed["last_error"]["code"] == "server_error"
    assert failed["failed_at"] is not None
