"""The Conversations API over the threads store: a conversation is a thread, its items are
the thread's messages and its runs' function calls, seen through either API."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def thread_of(conversation_id: str) -> str:
    return "thread_" + conversation_id.removeprefix("conv_")


def all_items(client: OpenAI, conversation_id: str, **options) -> list:
    return list(client.conversations.items.list(conversation_id, **options))


def test_create_retrieve_update_delete(client: OpenAI) -> None:
    conversation = client.conversations.create(
        metadata={"topic": "demo"},
        items=[{"role": "user", "content": "Hello"}],
    )
    assert conversation.id.startswith("conv_") and conversation.metadata == {"topic": "demo"}
    assert client.conversations.retrieve(conversation.id) == conversation
    updated = client.conversations.update(conversation.id, metadata={"topic": "other"})
    assert updated.metadata == {"topic": "other"}
    assert client.conversations.retrieve(conversation.id).metadata == {"topic": "other"}
    deleted = client.conversations.delete(conversation.id)
    assert deleted.deleted and deleted.id == conversation.id
    with pytest.raises(openai.NotFoundError) as error:
        client.conversations.retrieve(conversation.id)
    assert error.value.body["message"] == f"No conversation found with id '{conversation.id}'."
    # Its thread went with it.
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread_of(conversation.id))


def test_an_empty_conversation(client: OpenAI) -> None:
    conversation = client.conversations.create()
    assert conversation.metadata == {}
    page = client.conversations.items.list(conversation.id)
    assert page.data == [] and not page.has_more


def test_items_of_every_kind_in_order(client: OpenAI) -> None:
    conversation = client.conversations.create(
        items=[
            {"type": "message", "role": "developer", "content": "Answer in French."},
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
        ]
    )
    added = client.conversations.items.create(
        conversation.id,
        items=[
            {
                "type": "function_call",
                "call_id": "call_abc",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_abc", "output": "22C"},
            {
                "type": "message",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": "Il fait 22 degrés.",
                        "annotations": [
                            {
                                "type": "url_citation",
                                "url": "https://example.com/w",
                                "start_index": 0,
                                "end_index": 5,
                                "title": "Weather",
                            },
                        ],
                    },
                ],
            },
        ],
    )
    assert [item.type for item in added.data] == [
        "function_call",
        "function_call_output",
        "message",
    ]
    assert added.data[0].id.startswith("fc_") and added.data[0].call_id == "call_abc"
    ascending = all_items(client, conversation.id, order="asc")
    assert [item.type for item in ascending] == [
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert ascending[0].role == "developer" and ascending[0].content[0].text == "Answer in French."
    assert ascending[1].content[0].type == "input_text"
    answer = ascending[4]
    assert answer.content[0].type == "output_text"
    # A citation the Assistants shapes cannot hold is kept.
    assert answer.content[0].annotations[0].url == "https://example.com/w"
    descending = all_items(client, conversation.id)
    assert [item.id for item in descending] == [item.id for item in reversed(ascending)]
    for item in ascending:
        assert client.conversations.items.retrieve(item.id, conversation_id=conversation.id) == item


def test_paging_by_cursor(client: OpenAI) -> None:
    conversation = client.conversations.create(
        items=[{"role": "user", "content": f"message {n}"} for n in range(7)]
    )
    client.conversations.items.create(
        conversation.id,
        items=[{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}],
    )
    everything = all_items(client, conversation.id, order="asc")
    assert len(everything) == 8
    seen, after = [], None
    while True:
        page = client.conversations.items.list(
            conversation.id, order="asc", limit=3, **({"after": after} if after else {})
        )
        seen += [item.id for item in page.data]
        assert page.first_id == page.data[0].id and page.last_id == page.data[-1].id
        if not page.has_more:
            break
        after = page.last_id
    assert seen == [item.id for item in everything]
    # A cursor still places itself once its item is gone.
    client.conversations.items.delete(everything[2].id, conversation_id=conversation.id)
    rest = client.conversations.items.list(conversation.id, order="asc", after=everything[2].id)
    assert [item.id for item in rest.data] == [item.id for item in everything[3:]]


def test_a_thread_is_a_conversation_both_ways(client: OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "From Assistants"}], metadata={"k": "v"}
    )
    conversation_id = "conv_" + thread.id.removeprefix("thread_")
    conversation = client.conversations.retrieve(conversation_id)
    assert conversation.created_at == thread.created_at and conversation.metadata == {"k": "v"}
    # Each API takes the other's id too.
    assert client.conversations.retrieve(thread.id).id == conversation_id
    client.conversations.items.create(
        conversation_id,
        items=[
            {"role": "user", "content": "From Conversations"},
            {"role": "system", "content": "Kept, and not an Assistants message."},
        ],
    )
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id)]
    assert texts == ["From Conversations", "From Assistants"]
    items = all_items(client, conversation_id, order="asc")
    assert [item.content[0].text for item in items] == [
        "From Assistants",
        "From Conversations",
        "Kept, and not an Assistants message.",
    ]
    # The same message, under the same id, in both.
    first = client.beta.threads.messages.list(thread.id, order="asc").data[0]
    assert items[0].id == first.id
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(items[2].id, thread_id=thread.id)


def test_a_runs_calls_are_items(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(
        ToolCalls([("get_weather", '{"city": "Paris"}')]), Text("It is 22C in Paris.")
    )
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
    )
    assert run.status == "requires_action"
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    conversation_id = "conv_" + run.thread_id.removeprefix("thread_")
    waiting = all_items(client, conversation_id, order="asc")
    assert [item.type for item in waiting] == ["message", "function_call"]
    assert waiting[1].call_id == call.id and waiting[1].name == "get_weather"
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call.id, "output": "22C"}],
    )
    assert run.status == "completed"
    items = all_items(client, conversation_id, order="asc")
    assert [item.type for item in items] == [
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert items[2].call_id == call.id and items[2].output == "22C"
    assert items[3].role == "assistant" and items[3].content[0].text == "It is 22C in Paris."
    # Deleting the call removes it and its output from the run's step.
    client.conversations.items.delete(items[1].id, conversation_id=conversation_id)
    assert [item.type for item in all_items(client, conversation_id)] == ["message", "message"]


def test_a_run_reads_what_the_conversation_added(client: OpenAI, llm: ScriptedBackend) -> None:
    """Calls and outputs added as items, and a developer message, reach the model as a chat
    history: the developer message as a system message, the call beside its output."""
    model = llm.model(Text("Noted."))
    conversation = client.conversations.create(
        items=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {
                "type": "function_call",
                "call_id": "call_x",
                "name": "get_weather",
                "arguments": "{}",
            },
            {"type": "function_call_output", "call_id": "call_x", "output": "sunny"},
        ]
    )
    assistant = client.beta.assistants.create(model=model, tools=[WEATHER])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread_of(conversation.id), assistant_id=assistant.id
    )
    assert run.status == "completed", run.last_error
    sent = llm.received(model)[0]["messages"]
    assert {"role": "system", "content": "Be brief."} in sent
    calls = [m for m in sent if m.get("tool_calls")]
    assert calls[0]["tool_calls"][0]["id"] == "call_x"
    assert {"role": "tool", "tool_call_id": "call_x", "content": "sunny"} in sent


def test_no_items_while_a_run_is_active(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text("slow", first_delay=2))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as error:
        client.conversations.items.create(thread.id, items=[{"role": "user", "content": "More"}])
    assert run.id in error.value.body["message"]
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"items": [{"type": "nonsense"}]}, "items[0].type"),
        (
            {"items": [{"role": "user", "content": [{"type": "input_image"}]}]},
            "items[0].content[0]",
        ),
        (
            {
                "items": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_image", "image_url": "ftp://x/y.png", "detail": "auto"}
                        ],
                    }
                ]
            },
            "items[0].content[0].image_url",
        ),
        (
            {
                "items": [
                    {"role": "user", "content": [{"type": "input_file", "file_id": "file-missing"}]}
                ]
            },
            "items[0].content[0].file_id",
        ),
        ({"items": [{"role": "tool", "content": "x"}]}, "items[0].role"),
        ({"items": [{"role": "user", "content": "x"}] * 21}, "items"),
        (
            {"items": [{"type": "function_call", "call_id": "", "name": "f", "arguments": "{}"}]},
            "items[0].call_id",
        ),
        ({"items": [{"type": "item_reference", "id": "msg_missing"}]}, "items[0].id"),
    ],
)
def test_bad_items_are_refused_and_change_nothing(
    client: OpenAI, http: httpx.Client, body: dict, param: str
) -> None:
    conversation = client.conversations.create(items=[{"role": "user", "content": "Keep"}])
    response = http.post(f"/conversations/{conversation.id}/items", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert len(all_items(client, conversation.id)) == 1


def test_unknown_ids_are_404(client: OpenAI, http: httpx.Client) -> None:
    conversation = client.conversations.create()
    for path in (
        "/conversations/conv_missing",
        "/conversations/conv_missing/items",
        f"/conversations/{conversation.id}/items/msg_missing",
        f"/conversations/{conversation.id}/items/fc_missing",
    ):
        response = http.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["type"] == "invalid_request_error"
    assert http.get(f"/conversations/{conversation.id}/items?include=bogus").status_code == 400
    assert http.get(f"/conversations/{conversation.id}/items?limit=101").status_code == 400


def test_an_item_reference_copies_the_item(client: OpenAI) -> None:
    source = client.conversations.create(items=[{"role": "user", "content": "Reuse me"}])
    original = all_items(client, source.id)[0]
    target = client.conversations.create(items=[{"type": "item_reference", "id": original.id}])
    copied = all_items(client, target.id)
    assert len(copied) == 1 and copied[0].id != original.id
    assert copied[0].content == original.content


def test_another_projects_conversation_does_not_exist(
    client: OpenAI, server, llm: ScriptedBackend
) -> None:
    from tests.conftest import make_client
    from tests.support.store import create_key

    conversation = client.conversations.create(items=[{"role": "user", "content": "Mine"}])
    with make_client(server, create_key(server.database_url, "other-project")) as other:
        with pytest.raises(openai.NotFoundError):
            other.conversations.retrieve(conversation.id)
        item = all_items(client, conversation.id)[0]
        with pytest.raises(openai.BadRequestError):
            other.conversations.create(items=[{"type": "item_reference", "id": item.id}])
