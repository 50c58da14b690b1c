"""Responses with the built-in tools, through the same plug-ins runs use: file_search over
the vector stores the tool names, code_interpreter in a container (the Containers API's);
with the official SDK against the real server and the scripted backend."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls

LEAVE = (
    b"# Leave policy\n\nEmployees get 25 days of paid leave a year. Unused days expire at "
    b"the end of March. Sick leave is separate and unlimited with a doctor's note."
)
TRAVEL = b"# Travel\n\nTrain tickets are refunded in full. Flights need a manager's approval."
SEARCH = ToolCalls([("file_search", '{"query": "paid leave days"}')])


def code_call(code: str) -> ToolCalls:
    return ToolCalls([("code_interpreter", json.dumps({"code": code}))])


def store_of(client: OpenAI, **attributes: dict) -> tuple[str, str, str]:
    """A vector store with the two policies, ingested; (store, leave file, travel file)."""
    leave = client.files.create(file=("leave.md", LEAVE), purpose="assistants").id
    travel = client.files.create(file=("travel.md", TRAVEL), purpose="assistants").id
    store = client.vector_stores.create(name="policies")
    for file_id, name in ((leave, "leave"), (travel, "travel")):
        client.vector_stores.files.create_and_poll(
            vector_store_id=store.id, file_id=file_id, attributes=attributes.get(name)
        )
    return store.id, leave, travel


def test_a_file_search_response_with_results_and_citations(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    store, leave, _ = store_of(client)
    answer = "You get 25 days a year 【0†leave.md】."
    model = llm.model(SEARCH, Text(answer))
    tool = {"type": "file_search", "vector_store_ids": [store], "max_num_results": 2}
    response = client.responses.create(
        model=model,
        input="How many days of leave do I get?",
        tools=[tool],
        include=["file_search_call.results"],
    )
    assert response.status == "completed"
    search, message = response.output
    assert search.type == "file_search_call" and search.id.startswith("fs_")
    assert search.status == "completed" and search.queries == ["paid leave days"]
    assert search.results and len(search.results) <= 2
    assert search.results[0].file_id == leave and search.results[0].filename == "leave.md"
    assert "25 days" in search.results[0].text and 0 <= search.results[0].score <= 1
    # The model read the results, and cited one: only that is annotated.
    assert "25 days" in llm.received(model)[-1]["messages"][-1]["content"]
    assert response.output_text == answer
    (citation,) = message.content[0].annotations
    assert citation.type == "file_citation" and citation.file_id == leave
    assert citation.filename == "leave.md"
    assert response.tools[0].type == "file_search"
    assert response.tools[0].vector_store_ids == [store]
    assert response.tools[0].max_num_results == 2
    # Without `include`, no results; the same items through the input of a later response.
    again = client.responses.retrieve(response.id)
    assert again.output[0].results is None and again.output[0].queries == ["paid leave days"]


def test_file_search_filters_and_hosted_tool_choice(client: OpenAI, llm: ScriptedBackend) -> None:
    store, _, travel = store_of(client, leave={"team": "hr"}, travel={"team": "finance"})
    model = llm.model(SEARCH, Text("Flights need approval."))
    response = client.responses.create(
        model=model,
        input="What about leave?",
        tools=[
            {
                "type": "file_search",
                "vector_store_ids": [store],
                "filters": {"type": "eq", "key": "team", "value": "finance"},
                "ranking_options": {"hybrid_search": {"embedding_weight": 1, "text_weight": 3}},
            }
        ],
        tool_choice={"type": "file_search"},
        include=["file_search_call.results"],
    )
    (result,) = response.output[0].results
    assert result.file_id == travel and result.attributes == {"team": "finance"}
    assert response.tool_choice.type == "file_search"
    # The choice reached the model as its function.
    assert llm.received(model)[0]["tool_choice"] == {
        "type": "function",
        "function": {"name": "file_search"},
    }


def test_the_stream_of_a_file_search(client: OpenAI, llm: ScriptedBackend) -> None:
    store, leave, _ = store_of(client)
    model = llm.model(SEARCH, Text("25 days 【0†leave.md】."))
    events = list(
        client.responses.create(
            model=model,
            input="Leave?",
            tools=[{"type": "file_search", "vector_store_ids": [store]}],
            stream=True,
        )
    )
    kinds = [event.type for event in events]
    search_id = events[kinds.index("response.file_search_call.in_progress")].item_id
    assert search_id.startswith("fs_")
    assert [k for k in kinds if k.startswith("response.file_search_call")] == [
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
    ]
    done = [e for e in events if e.type == "response.output_item.done"]
    assert [e.item.type for e in done] == ["file_search_call", "message"]
    (annotation,) = [e for e in events if e.type == "response.output_text.annotation.added"]
    assert annotation.annotation.file_id == leave
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output == client.responses.retrieve(final.id).output


def test_bad_tools_are_refused(http: httpx.Client, llm: ScriptedBackend) -> None:
    model = llm.model(Text("unused"))
    cases = [
        ({"type": "file_search", "vector_store_ids": ["vs_nope"]}, "tools[0].vector_store_ids[0]"),
        ({"type": "file_search", "vector_store_ids": [], "max_num_results": 51}, None),
        ({"type": "code_interpreter", "container": "cntr_nope"}, "tools[0].container"),
        (
            {
                "type": "code_interpreter",
                "container": {
                    "type": "auto",
                    "network_policy": {"type": "allowlist", "allowed_domains": ["x.org"]},
                },
            },
            "tools[0].container.network_policy",
        ),
        ({"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-x"]}},
         "tools[0].container.file_ids[0]"),
    ]  # fmt: skip
    for tool, param in cases:
        reply = http.post("/responses", json={"model": model, "input": "x", "tools": [tool]})
        assert reply.status_code == 400, (tool, reply.text)
        error = reply.json()["error"]
        assert error["type"] == "invalid_request_error"
        if param is not None:
            assert error["param"] == param, error
    reply = http.post(
        "/responses",
        json={"model": model, "input": "x", "tool_choice": {"type": "code_interpreter"}},
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "tool_choice.type"


CHART_AND_CSV = (
    "import matplotlib.pyplot as plt\n"
    "rows = [('jan', 10), ('feb', 20), ('mar', 15)]\n"
    "with open('/mnt/data/sales.csv', 'w') as out:\n"
    "    out.write('month,amount\\n' + ''.join(f'{m},{a}\\n' for m, a in rows))\n"
    "plt.bar([m for m, _ in rows], [a for _, a in rows])\n"
    "print('total', sum(a for _, a in rows))"
)


def test_code_interpreter_makes_a_chart_and_a_csv_in_a_container(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    answer = "Total 45: [sales.csv](sandbox:/mnt/data/sales.csv)."
    model = llm.model(code_call(CHART_AND_CSV), Text(answer))
    response = client.responses.create(
        model=model,
        input="Chart the sales and save them as CSV.",
        tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
        include=["code_interpreter_call.outputs"],
    )
    assert response.status == "completed", response.error
    call, message = response.output
    assert call.type == "code_interpreter_call" and call.id.startswith("ci_")
    assert call.status == "completed" and call.code == CHART_AND_CSV
    container_id = call.container_id
    assert container_id.startswith("cntr_")
    logs = [o for o in call.outputs if o.type == "logs"]
    images = [o for o in call.outputs if o.type == "image"]
    assert "total 45" in logs[0].logs
    (image,) = images
    assert image.url.startswith("data:image/png;base64,")
    assert response.tools[0].container.type == "auto"

    # The CSV is a container file, cited in the answer and downloadable.
    (citation,) = message.content[0].annotations
    assert citation.type == "container_file_citation"
    assert citation.container_id == container_id and citation.filename == "sales.csv"
    assert answer[citation.start_index : citation.end_index] == "sandbox:/mnt/data/sales.csv"
    written = client.containers.files.retrieve(citation.file_id, container_id=container_id)
    assert written.path == "/mnt/data/sales.csv" and written.source == "assistant"
    content = client.containers.files.content.retrieve(citation.file_id, container_id=container_id)
    assert content.read() == b"month,amount\njan,10\nfeb,20\nmar,15\n"
    container = client.containers.retrieve(container_id)
    assert container.status == "running"
    # Without `include`, no outputs.
    assert client.responses.retrieve(response.id).output[0].outputs is None


def test_a_container_used_by_two_responses_in_turn(client: OpenAI, llm: ScriptedBackend) -> None:
    data = client.files.create(file=("numbers.txt", b"1 2 3 4"), purpose="assistants")
    container = client.containers.create(name="work", file_ids=[data.id])
    tool = {"type": "code_interpreter", "container": container.id}
    first_code = (
        "total = sum(int(x) for x in open('/mnt/data/numbers.txt').read().split())\n"
        "open('/mnt/data/total.txt', 'w').write(str(total))\nprint(total)"
    )
    model = llm.model(code_call(first_code), Text("10."))
    first = client.responses.create(
        model=model, input="Sum them.", tools=[tool], include=["code_interpreter_call.outputs"]
    )
    assert first.output[0].container_id == container.id
    assert first.output[0].outputs[0].logs.strip() == "10"
    second_code = "print(total * 2, open('/mnt/data/total.txt').read())"
    model = llm.model(code_call(second_code), Text("20."))
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input="Double it.",
        tools=[tool],
        include=["code_interpreter_call.outputs"],
    )
    # The same session: the variable lived on; the file was there.
    assert second.output[0].outputs[0].logs.strip() == "20 10"
    paths = sorted(f.path for f in client.containers.files.list(container.id))
    assert paths == ["/mnt/data/numbers.txt", "/mnt/data/total.txt"]
    # The model saw the first call again as context.
    history = llm.received(model)[0]["messages"]
    assert any(m.get("tool_calls") for m in history)


def test_the_stream_of_code(client: OpenAI, llm: ScriptedBackend) -> None:
    code = "print(6 * 7)"
    model = llm.model(code_call(code), Text("42."))
    events = list(
        client.responses.create(
            model=model,
            input="Compute.",
            tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
            stream=True,
        )
    )
    kinds = [event.type for event in events]
    code_events = [k for k in kinds if "code_interpreter" in k]
    assert code_events[0] == "response.code_interpreter_call.in_progress"
    assert code_events[-3:] == [
        "response.code_interpreter_call_code.done",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    deltas = "".join(
        e.delta for e in events if e.type == "response.code_interpreter_call_code.delta"
    )
    assert deltas == code
    added = next(e for e in events if e.type == "response.output_item.added")
    assert added.item.type == "code_interpreter_call" and added.item.container_id.startswith(
        "cntr_"
    )
    final = events[-1].response
    assert final.output[0].code == code and final.output_text == "42."


def test_an_expired_or_deleted_container_is_refused(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    container = client.containers.create(name="gone")
    client.containers.delete(container.id)
    model = llm.model(Text("unused"))
    reply = http.post(
        "/responses",
        json={
            "model": model,
            "input": "x",
            "tools": [{"type": "code_interpreter", "container": container.id}],
        },
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "tools[0].container"
    # Deleted while a response that uses it waits: the model is told, the response ends.
    container = client.containers.create(name="brief")
    model = llm.model(code_call("print(1)"), Text("It is gone."))
    response = client.responses.create(
        model=model,
        input="x",
        tools=[{"type": "code_interpreter", "container": container.id}],
        include=["code_interpreter_call.outputs"],
        background=True,
    )
    client.containers.delete(container.id)
    deadline = time.monotonic() + 30
    while (found := client.responses.retrieve(response.id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert found.status == "completed"


@pytest.mark.parametrize("include", [True, False])
def test_conversation_items_show_the_tool_calls(
    client: OpenAI, llm: ScriptedBackend, include: bool
) -> None:
    conversation = client.conversations.create()
    model = llm.model(code_call("print('hi')"), Text("Said hi."))
    client.responses.create(
        model=model,
        conversation=conversation.id,
        input="Say hi in code.",
        tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
    )
    extra = {"include": ["code_interpreter_call.outputs"]} if include else {}
    items = client.conversations.items.list(conversation.id, order="asc", **extra).data
    assert [item.type for item in items] == ["message", "code_interpreter_call", "message"]
    outputs = items[1].outputs
    assert (outputs[0].logs.strip() == "hi") if include else outputs is None


def test_a_runs_calls_and_a_responses_over_one_thread(client: OpenAI, llm: ScriptedBackend) -> None:
    """The Assistants side keeps its shapes; its run's code ran in the thread's container,
    so its calls are items as a response's are, and a response goes on in that sandbox."""
    store, leave, _ = store_of(client)
    model = llm.model(SEARCH, code_call("x = 25\nprint(x)"), Text("25 days."))
    assistant = client.beta.assistants.create(
        model=model,
        tools=[{"type": "file_search"}, {"type": "code_interpreter"}],
        tool_resources={"file_search": {"vector_store_ids": [store]}},
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Leave?"}]}
    )
    assert run.status == "completed"
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc")
    calls = [c for s in steps if s.type == "tool_calls" for c in s.step_details.tool_calls]
    assert [c.type for c in calls] == ["file_search", "code_interpreter"]
    assert calls[1].code_interpreter.input == "x = 25\nprint(x)"

    conversation_id = "conv_" + run.thread_id.removeprefix("thread_")
    items = client.conversations.items.list(
        conversation_id,
        order="asc",
        include=["file_search_call.results", "code_interpreter_call.outputs"],
    ).data
    assert [i.type for i in items] == [
        "message",
        "file_search_call",
        "code_interpreter_call",
        "message",
    ]
    assert items[1].results[0].file_id == leave
    code = items[2]
    assert code.code == "x = 25\nprint(x)" and code.outputs[0].logs.strip() == "25"
    assert code.container_id == "cntr_" + run.thread_id.removeprefix("thread_")
    assert client.containers.retrieve(code.container_id).status == "running"

    # A response in the conversation, in the thread's container: the run's variable is there.
    model = llm.model(code_call("print(x * 2)"), Text("50."))
    response = client.responses.create(
        model=model,
        conversation=conversation_id,
        input="Double it.",
        tools=[{"type": "code_interpreter", "container": code.container_id}],
        include=["code_interpreter_call.outputs"],
    )
    assert response.output[0].outputs[0].logs.strip() == "50"
