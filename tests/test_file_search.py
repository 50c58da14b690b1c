"""The file_search tool in runs: searches recorded as steps, results given to the model,
citations as annotations; with the scripted backend on every index."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from tests.conftest import make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.sse import stream_post
from tests.support.store import create_key
from tests.support.wire import HOOKS

CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
LEAVE = (
    b"# Leave policy\n\nEmployees get 25 days of paid leave a year. Unused days expire at "
    b"the end of March. Sick leave is separate and unlimited with a doctor's note."
)
TRAVEL = b"# Travel\n\nTrain tickets are refunded in full. Flights need a manager's approval."


@pytest.fixture
def client(vs_server: Server) -> Iterator[OpenAI]:
    with make_client(vs_server, create_key(vs_server.database_url, uuid.uuid4().hex)) as sdk:
        yield sdk


def search_assistant(client: OpenAI, model: str, **tool_options):
    leave = client.files.create(file=("leave.md", LEAVE), purpose="assistants").id
    travel = client.files.create(file=("travel.md", TRAVEL), purpose="assistants").id
    return client.beta.assistants.create(
        model=model,
        tools=[{"type": "file_search", **({"file_search": tool_options} if tool_options else {})}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [leave, travel]}]}},
    ), leave


def ask(client: OpenAI, assistant_id: str, question: str, **options):
    return client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": question}]},
        **options,
    )


def test_a_search_step_and_a_cited_answer(client: OpenAI, llm: ScriptedBackend) -> None:
    answer = "You get 25 days a year 【0†leave.md】."
    model = llm.model(ToolCalls([("file_search", '{"query": "paid leave days"}')]), Text(answer))
    assistant, leave = search_assistant(
        client, model, max_num_results=2, ranking_options={"score_threshold": 0.0}
    )
    run = ask(client, assistant.id, "How many days of leave do I get?")
    assert run.status == "completed", run.last_error

    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc")
    search_step, message_step = steps.data
    assert (search_step.type, search_step.status) == ("tool_calls", "completed")
    (call,) = search_step.step_details.tool_calls
    assert call.type == "file_search" and call.id.startswith("call_")
    assert call.file_search.ranking_options.ranker == "default_2024_08_21"
    assert call.file_search.ranking_options.score_threshold == 0.0
    results = call.file_search.results
    assert 1 <= len(results) <= 2
    assert results[0].file_name == "leave.md" and results[0].file_id == leave
    assert all(0 <= r.score <= 1 for r in results)
    assert all(r.content is None for r in results)  # only on request
    assert search_step.usage.total_tokens == 45

    with_content = client.beta.threads.runs.steps.retrieve(
        search_step.id, thread_id=run.thread_id, run_id=run.id, include=[CONTENT]
    )
    text = with_content.step_details.tool_calls[0].file_search.results[0].content[0].text
    assert "25 days of paid leave" in text

    message = client.beta.threads.messages.retrieve(
        message_step.step_details.message_creation.message_id, thread_id=run.thread_id
    )
    value = message.content[0].text.value
    (annotation,) = message.content[0].text.annotations
    assert annotation.type == "file_citation"
    assert annotation.file_citation.file_id == leave
    assert (
        value[annotation.start_index : annotation.end_index] == annotation.text == "【0†leave.md】"
    )

    # The model read the passages, marked for citing, in a tool message.
    second = llm.received(model)[1]["messages"]
    assert second[-1]["role"] == "tool" and "【0†leave.md】" in second[-1]["content"]
    assert "25 days of paid leave" in second[-1]["content"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "file_search"
    assert llm.received(model)[0]["tools"][0]["function"]["name"] == "file_search"


def test_include_on_a_streamed_run(client: OpenAI, llm: ScriptedBackend, vs_server: Server) -> None:
    # Without include, then with it as the SDKs, PHP clients and others spell it.
    forms = [("", False), ("include[]=", True), ("include[0]=", True), ("include=", True)]
    model = llm.model(
        *[
            script
            for _ in forms
            for script in (
                ToolCalls([("file_search", '{"query": "train tickets"}')]),
                Text("Refunded 【0†travel.md】."),
            )
        ]
    )
    assistant, _ = search_assistant(client, model)
    headers = {"Authorization": f"Bearer {client.api_key}"}
    with httpx.Client(
        base_url=vs_server.base_url, headers=headers, timeout=60, event_hooks=HOOKS
    ) as raw:
        for form, present in forms:
            thread = client.beta.threads.create(
                messages=[{"role": "user", "content": "Are trains refunded?"}]
            )
            query = f"{form}{CONTENT}" if form else ""
            events = stream_post(
                raw,
                f"/threads/{thread.id}/runs?{query}",
                {"assistant_id": assistant.id, "stream": True},
            )
            done = [data for name, data in events if name == "thread.run.step.completed"]
            results = done[0]["step_details"]["tool_calls"][0]["file_search"]["results"]
            assert results and all(("content" in r) is present for r in results)
            # What streamed is what was stored: the model's words, citations annotated.
            streamed = "".join(
                part["text"]["value"]
                for name, data in events
                if name == "thread.message.delta"
                for part in data["delta"]["content"]
            )
            (completed,) = [data for name, data in events if name == "thread.message.completed"]
            text = completed["content"][0]["text"]
            assert streamed == text["value"] == "Refunded 【0†travel.md】."
            assert [a["text"] for a in text["annotations"]] == ["【0†travel.md】"]


def test_forced_search_and_an_uncited_answer(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(
        ToolCalls([("file_search", '{"query": "flights approval"}')]),
        Text("Flights need a manager's approval."),
    )
    assistant, _ = search_assistant(client, model)
    run = ask(client, assistant.id, "Flights?", tool_choice={"type": "file_search"})
    assert run.status == "completed"
    first, second = llm.received(model)
    assert first["tool_choice"] == {"type": "function", "function": {"name": "file_search"}}
    assert second["tool_choice"] == "auto"
    # The answer used the results without citing them: it is stored as the model wrote it,
    # with no citation added.
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.content[0].text.value == "Flights need a manager's approval."
    assert message.content[0].text.annotations == []


def test_attachments_are_searched_once_ingested(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(ToolCalls([("file_search", '{"query": "lighthouse keeper"}')]), Text("Done."))
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "file_search"}])
    story = b"".join(b"The lighthouse keeper counted %d ships.\n\n" % i for i in range(150))
    story_id = client.files.create(file=("story.txt", story), purpose="assistants").id
    started = time.monotonic()
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "What did the keeper count?",
                              "attachments": [{"file_id": story_id,
                                               "tools": [{"type": "file_search"}]}]}]},
    )  # fmt: skip
    assert run.status == "completed", run.last_error
    assert time.monotonic() - started < 120
    step = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data[0]
    results = step.step_details.tool_calls[0].file_search.results
    assert results and {r.file_id for r in results} == {story_id}
    sent = json.dumps(llm.received(model)[1]["messages"])
    assert "lighthouse keeper counted" in sent


def test_no_stores_no_results(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(ToolCalls([("file_search", '{"query": "anything"}')]), Text("Nothing."))
    assistant = client.beta.assistants.create(model=model, tools=[{"type": "file_search"}])
    run = ask(client, assistant.id, "Search please")
    assert run.status == "completed"
    step = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data[0]
    assert step.step_details.tool_calls[0].file_search.results == []
    assert "No relevant passages" in llm.received(model)[1]["messages"][-1]["content"]
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.content[0].text.annotations == []


def test_a_search_and_its_citation_as_conversation_items(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    """The same run through the Conversations API: the search as a `file_search_call` item
    (its results when `include` asks) and the citation as a `file_citation` with the file's
    name."""
    answer = "You get 25 days a year 【0†leave.md】."
    model = llm.model(ToolCalls([("file_search", '{"query": "paid leave days"}')]), Text(answer))
    assistant, leave = search_assistant(client, model)
    run = ask(client, assistant.id, "How many days of leave do I get?")
    assert run.status == "completed", run.last_error
    conversation_id = "conv_" + run.thread_id.removeprefix("thread_")
    items = client.conversations.items.list(conversation_id, order="asc").data
    assert [item.type for item in items] == ["message", "file_search_call", "message"]
    search = items[1]
    assert search.id.startswith("fs_") and search.status == "completed"
    assert search.queries == ["paid leave days"] and search.results is None
    included = client.conversations.items.retrieve(
        search.id, conversation_id=conversation_id, include=["file_search_call.results"]
    )
    assert included.results and included.results[0].file_id == leave
    assert included.results[0].filename == "leave.md" and "25 days" in included.results[0].text
    (citation,) = items[2].content[0].annotations
    assert citation.type == "file_citation" and citation.file_id == leave
    assert citation.filename == "leave.md"
