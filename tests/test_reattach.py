"""Re-attaching to a run's event stream (a Threadline extension): from the first event,
after the last one a client saw, and live while the run goes on."""

from __future__ import annotations

import threading

import httpx
from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.sse import identified, stream_get
from tests.support.transcripts import FUNCTION_RUN, TEXT_RUN, collapse
from tests.support.wire import HOOKS

WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def streamed_create(http: httpx.Client, thread_id: str, body: dict) -> list:
    with http.stream("POST", f"/threads/{thread_id}/runs", json={**body, "stream": True}) as r:
        assert r.status_code == 200
        return list(identified(r))


def test_a_finished_run_replays_with_the_same_ids(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("One two three four five six.", chunks=6))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create()
    created = streamed_create(http, thread.id, {"assistant_id": assistant.id})
    run_id = created[0][2]["id"]

    replayed = stream_get(http, f"/threads/{thread.id}/runs/{run_id}/events")
    assert replayed == created
    ids = [event_id for event_id, name, _ in created if name != "done"]
    assert all(ids) and len(set(ids)) == len(ids)
    assert collapse([name for _, name, _ in replayed]) == TEXT_RUN

    # After the fourth event (the header, or the query): the rest, no repeats.
    fourth = created[3][0]
    rest = stream_get(http, f"/threads/{thread.id}/runs/{run_id}/events", {"Last-Event-ID": fourth})
    assert rest == created[4:]
    assert stream_get(http, f"/threads/{thread.id}/runs/{run_id}/events?after={fourth}") == rest
    # After the last event: nothing but the end of the stream.
    last = created[-2][0]
    end = stream_get(http, f"/threads/{thread.id}/runs/{run_id}/events?after={last}")
    assert [name for _, name, _ in end] == ["done"]


def test_attach_while_the_run_streams(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("slow " * 30, chunks=30, chunk_delay=0.05))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    attached = stream_get(http, f"/threads/{thread.id}/runs/{run.id}/events")
    assert collapse([name for _, name, _ in attached]) == TEXT_RUN
    text = "".join(
        part["text"]["value"]
        for _, name, data in attached
        if name == "thread.message.delta"
        for part in data["delta"]["content"]
    )
    assert text == "slow " * 30


def test_a_paused_run_ends_its_stream_at_requires_action(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    model = llm.model(ToolCalls([("get_weather", "{}")]), Text("Sunny."))
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "requires_action"
    first = stream_get(http, f"/threads/{thread.id}/runs/{run.id}/events")
    assert collapse([name for _, name, _ in first]) == FUNCTION_RUN

    # Resumed: reading on after the pause gives the rest of the run.
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "x"}]
    )
    pause = first[-2][0]
    rest = stream_get(http, f"/threads/{thread.id}/runs/{run.id}/events?after={pause}")
    names = [name for _, name, _ in rest]
    assert names[0] == "thread.run.step.completed"
    assert names[-2:] == ["thread.run.completed", "done"]


def test_two_streams_of_one_run_see_the_same_events(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("a b c d e f g h", chunks=8, chunk_delay=0.05))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    seen: list[list] = []

    def read() -> None:
        seen.append(stream_get(http, f"/threads/{thread.id}/runs/{run.id}/events"))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(30)
    assert len(seen) == 2 and seen[0] == seen[1]


def test_bad_cursor_and_unknown_run(client: OpenAI, http: httpx.Client, llm: ScriptedBackend):
    model = llm.model(Text("Hi."))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    bad = http.get(f"/threads/{thread.id}/runs/{run.id}/events?after=not-an-id")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "after"
    missing = http.get(f"/threads/{thread.id}/runs/run_missing/events")
    assert missing.status_code == 404


def test_a_quiet_stream_keeps_alive(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn({"THREADLINE_SSE_KEEP_ALIVE_SECONDS": "0.2"})
    model = llm.model(always=Text("Late but whole.", first_delay=1.0))
    with make_client(server, "local") as client:
        assistant = client.beta.assistants.create(model=model)
        thread = client.beta.threads.create()
        with (
            httpx.Client(base_url=server.base_url, timeout=30, event_hooks=HOOKS) as raw,
            raw.stream(
                "POST",
                f"/threads/{thread.id}/runs",
                json={"assistant_id": assistant.id, "stream": True},
            ) as response,
        ):
            lines = list(response.iter_lines())
        assert lines.count(": keep-alive") >= 3
        # The official SDK reads the same stream, comments and all.
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id
        ) as stream:
            stream.until_done()
            assert stream.current_run.status == "completed"
