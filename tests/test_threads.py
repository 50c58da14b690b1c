"""Threads and messages through the official SDK, strict."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import store
from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.server import Server


def test_create_bare(client: OpenAI) -> None:
    thread = client.beta.threads.create()
    assert thread.id.startswith("thread_")
    assert thread.object == "thread"
    assert thread.metadata == {}
    assert client.beta.threads.messages.list(thread.id).data == []


def test_create_with_every_option(client: OpenAI) -> None:
    upload = client.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="assistants")
    image = client.files.create(file=("pic.png", b"\x89PNG fake"), purpose="vision")
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "Hello", "metadata": {"n": "1"}},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_file", "image_file": {"file_id": image.id, "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            },
            {
                "role": "user",
                "content": "Use this file",
                "attachments": [{"file_id": upload.id, "tools": [{"type": "code_interpreter"}]}],
            },
        ],
        tool_resources={"code_interpreter": {"file_ids": [upload.id]}},
        metadata={"customer": "c-1"},
    )
    assert thread.metadata == {"customer": "c-1"}
    assert thread.tool_resources.code_interpreter.file_ids == [upload.id]
    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant", "user"]
    assert messages[0].content[0].text.value == "Hello"
    assert messages[0].content[0].text.annotations == []
    assert messages[0].metadata == {"n": "1"}
    parts = messages[1].content
    assert [p.type for p in parts] == ["text", "image_file", "image_url"]
    assert parts[1].image_file.file_id == image.id and parts[1].image_file.detail == "low"
    assert parts[2].image_url.url == "https://example.com/a.png"
    assert parts[2].image_url.detail == "auto"
    assert messages[2].attachments[0].file_id == upload.id
    assert messages[2].attachments[0].tools[0].type == "code_interpreter"
    for message in messages:
        assert message.thread_id == thread.id
        assert message.status == "completed"
        assert message.assistant_id is None and message.run_id is None


def test_messages_without_attachments_have_an_empty_list(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend, server: Server
) -> None:
    """`attachments` is `[]`, never null, however the message came to be (clients loop over
    it), also for rows stored before this was so."""
    assistant = client.beta.assistants.create(model=llm.model(always=Text("Answer.")))
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "at creation"}])
    client.beta.threads.messages.create(thread.id, role="user", content="created")
    client.beta.threads.messages.create(thread.id, role="user", content="null", attachments=None)
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        additional_messages=[{"role": "user", "content": "additional"}],
    )
    assert run.status == "completed"
    other = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "thread and run"}]},
    )
    assert other.status == "completed"
    # A row stored with null, as earlier versions stored every message without attachments.
    old = store.message_fields(thread.id, "stored null", attachments=None)
    store.insert(server.database_url, (store.Message, old))
    old = old["id"]

    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    messages += client.beta.threads.messages.list(other.thread_id, order="asc").data
    texts = [m.content[0].text.value for m in messages]
    assert texts == ["at creation", "created", "null", "additional", "Answer.", "stored null",
                     "thread and run", "Answer."]  # fmt: skip
    assert all(m.attachments == [] for m in messages)
    for thread_id in (thread.id, other.thread_id):
        for raw in http.get(f"/threads/{thread_id}/messages").json()["data"]:
            assert raw["attachments"] == []
    raw = http.get(f"/threads/{thread.id}/messages/{old}").json()
    assert raw["attachments"] == []
    assert client.beta.threads.messages.retrieve(old, thread_id=thread.id).attachments == []
    created = http.post(f"/threads/{thread.id}/messages", json={"role": "user", "content": "x"})
    assert created.json()["attachments"] == []


def test_retrieve_update_delete(client: OpenAI) -> None:
    thread = client.beta.threads.create(metadata={"a": "1"})
    assert client.beta.threads.retrieve(thread.id) == thread
    assert client.beta.threads.update(thread.id) == thread
    upload = client.files.create(file=("x.py", b"print(1)"), purpose="assistants")
    updated = client.beta.threads.update(
        thread.id,
        metadata={"b": "2"},
        tool_resources={"code_interpreter": {"file_ids": [upload.id]}},
    )
    assert updated.metadata == {"b": "2"}
    assert updated.tool_resources.code_interpreter.file_ids == [upload.id]
    assert client.beta.threads.retrieve(thread.id) == updated
    deleted = client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (thread.id, True, "thread.deleted")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)


def test_deleting_a_thread_deletes_its_messages_runs_and_steps(
    client: OpenAI, server: Server, http: httpx.Client
) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    message = client.beta.threads.messages.list(thread.id).data[0]
    run = store.run_fields(thread.id, "asst_x")
    step = store.step_fields(run, {"type": "message_creation",
                                   "message_creation": {"message_id": message.id}})  # fmt: skip
    store.insert(server.database_url, (store.Run, run), (store.RunStep, step))
    client.beta.threads.delete(thread.id)

    async def count(db) -> tuple[int, int, int]:
        from sqlalchemy import func, select

        from threadline.threads.models import Message

        async with db.read() as session:
            return (
                await session.scalar(select(func.count()).where(Message.thread_id == thread.id)),
                await session.scalar(select(func.count()).where(store.Run.id == run["id"])),
                await session.scalar(select(func.count()).where(store.RunStep.id == step["id"])),
            )

    assert store.with_db(server.database_url, count) == (0, 0, 0)
    assert http.get(f"/threads/{thread.id}/messages").status_code == 404


def test_messages_every_method(client: OpenAI) -> None:
    thread = client.beta.threads.create()
    upload = client.files.create(file=("doc.md", b"# Title"), purpose="assistants")
    bare = client.beta.threads.messages.create(thread.id, role="user", content="plain")
    assert bare.id.startswith("msg_")
    assert bare.content[0].text.value == "plain"
    assert bare.attachments == [] and bare.metadata == {}
    full = client.beta.threads.messages.create(
        thread.id,
        role="assistant",
        content=[{"type": "text", "text": "parts"}],
        attachments=[
            {"file_id": upload.id, "tools": [{"type": "file_search"}, {"type": "code_interpreter"}]}
        ],
        metadata={"m": "1"},
    )
    assert full.role == "assistant"
    assert [t.type for t in full.attachments[0].tools] == ["file_search", "code_interpreter"]
    assert client.beta.threads.messages.retrieve(full.id, thread_id=thread.id) == full
    assert client.beta.threads.messages.update(full.id, thread_id=thread.id) == full
    changed = client.beta.threads.messages.update(full.id, thread_id=thread.id, metadata={"m": "2"})
    assert changed.metadata == {"m": "2"}
    page = client.beta.threads.messages.list(thread.id)
    assert [m.id for m in page.data] == [full.id, bare.id]
    page = client.beta.threads.messages.list(
        thread.id, limit=1, order="asc", after=bare.id, before=None
    )
    assert [m.id for m in page.data] == [full.id]
    deleted = client.beta.threads.messages.delete(bare.id, thread_id=thread.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        bare.id,
        True,
        "thread.message.deleted",
    )
    assert [m.id for m in client.beta.threads.messages.list(thread.id).data] == [full.id]


def test_list_messages_of_a_run(client: OpenAI, server: Server) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "question"}])
    run = store.run_fields(thread.id, "asst_x")

    async def add_answer(db) -> str:
        from threadline.threads import service
        from threadline.threads.models import Thread
        from threadline.threads.schemas import CreateMessageRequest

        async with db.write() as session:
            session.add(store.Run(**run))
            await session.flush()
            message = await service.add_message(
                session,
                (await session.get(Thread, thread.id)).project_id,
                thread.id,
                CreateMessageRequest(role="assistant", content="answer"),
                run_id=run["id"],
                assistant_id="asst_x",
            )
            return message.id

    answer_id = store.with_db(server.database_url, add_answer)
    page = client.beta.threads.messages.list(thread.id, run_id=run["id"])
    assert [m.id for m in page.data] == [answer_id]
    assert page.data[0].run_id == run["id"] and page.data[0].assistant_id == "asst_x"
    assert len(client.beta.threads.messages.list(thread.id).data) == 2


def test_no_messages_while_a_run_is_active(client: OpenAI, server: Server) -> None:
    thread = client.beta.threads.create()
    run = store.run_fields(thread.id, "asst_x", status="in_progress", completed_at=None)
    store.insert(server.database_url, (store.Run, run))
    with pytest.raises(openai.BadRequestError) as error:
        client.beta.threads.messages.create(thread.id, role="user", content="hi")
    assert error.value.body["message"] == (
        f"Can't add messages to {thread.id} while a run {run['id']} is active."
    )
    assert client.beta.threads.messages.list(thread.id).data == []


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "role", "missing_required_parameter"),
        ({"role": "user"}, "content", "missing_required_parameter"),
        ({"role": "system", "content": "x"}, "role", "invalid_value"),
        ({"role": "user", "content": 3}, "content", "invalid_type"),
        ({"role": "user", "content": []}, "content", "empty_array"),
        ({"role": "user", "content": [{"type": "video"}]}, "content[0].type", "invalid_value"),
        ({"role": "user", "content": [{"type": "text"}]}, "content[0].text",
         "missing_required_parameter"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "nope"}}]},
         "content[0].image_url.url", "invalid_value"),
        ({"role": "user", "content": [{"type": "image_url",
                                       "image_url": {"url": "https://a/b", "detail": "max"}}]},
         "content[0].image_url.detail", "invalid_value"),
        ({"role": "user", "content": [{"type": "image_file",
                                       "image_file": {"file_id": "file-missing"}}]},
         "content[0].image_file.file_id", None),
        ({"role": "user", "content": "x", "attachments": [{"file_id": "file-missing",
                                                          "tools": []}]},
         "attachments[0].file_id", None),
        ({"role": "user", "content": "x", "attachments": [{"file_id": "f",
                                                          "tools": [{"type": "function"}]}]},
         "attachments[0].tools[0].type", "invalid_value"),
        ({"role": "user", "content": "x", "metadata": {str(i): "v" for i in range(17)}},
         "metadata", "object_above_max_properties"),
        ({"role": "user", "content": "x", "file_ids": []}, "file_ids", "unknown_parameter"),
    ],
)  # fmt: skip
def test_message_create_rejects_bad_input(
    client: OpenAI, http: httpx.Client, body: dict, param: str, code: str | None
) -> None:
    thread = client.beta.threads.create()
    response = http.post(f"/threads/{thread.id}/messages", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["code"] == code
    # Inside a thread create request the same errors name their place in `messages`.
    response = http.post("/threads", json={"messages": [body]})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == f"messages[0].{param}"
    assert client.beta.threads.messages.list(thread.id).data == []


def test_thread_create_is_all_or_nothing(http: httpx.Client) -> None:
    before = http.get("/threads/thread_nope")
    assert before.status_code == 404
    response = http.post(
        "/threads",
        json={"messages": [{"role": "user", "content": "ok"},
                           {"role": "user", "content": "x",
                            "attachments": [{"file_id": "file-gone", "tools": []}]}]},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages[1].attachments[0].file_id"


def test_thread_rejects_bad_tool_resources(http: httpx.Client) -> None:
    response = http.post(
        "/threads", json={"tool_resources": {"code_interpreter": {"file_ids": ["file-none"]}}}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "tool_resources.code_interpreter.file_ids[0]"
    response = http.post("/threads", json={"metadata": {"k": "v" * 600}})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "string_above_max_length"


def test_message_paths_check_their_thread(client: OpenAI) -> None:
    one = client.beta.threads.create(messages=[{"role": "user", "content": "a"}])
    other = client.beta.threads.create()
    message = client.beta.threads.messages.list(one.id).data[0]
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.messages.retrieve(message.id, thread_id=other.id)
    assert error.value.body["message"] == f"No message found with id '{message.id}'."
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.messages.retrieve(message.id, thread_id="thread_missing")
    assert error.value.body["message"] == "No thread found with id 'thread_missing'."
