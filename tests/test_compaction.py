"""`POST /responses/compact`: the model's summary of a context as a `compaction` item, which
a later request takes as input in place of that context; with the official SDK against the
real server and the scripted backend."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.scripted_backend import Fail, ScriptedBackend, Text, texts

SUMMARY = "The user plans a trip to Lisbon in May for 4 days on a 900 euro budget."
HISTORY = [
    {"role": "user", "content": "I want to visit Lisbon in May."},
    {
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": "Great! How long?", "annotations": []}],
    },
    {"role": "user", "content": "4 days, 900 euros."},
]


def test_compact_then_follow_up(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text(SUMMARY), Text("Stay in Alfama."))
    compacted = client.responses.compact(model=model, input=HISTORY)
    assert compacted.object == "response.compaction" and compacted.id.startswith("resp_")
    # The item alone: it carries the user's messages (the SDKs parse no user message in a
    # compaction's output).
    (item,) = compacted.output
    assert item.type == "compaction" and item.id.startswith("cmp_")
    assert SUMMARY not in item.encrypted_content  # a reference, not the summary
    assert compacted.usage.input_tokens > 0 and compacted.usage.output_tokens > 0
    # The model saw the whole context, then the instruction to summarize.
    asked = llm.received(model)[0]["messages"]
    assert texts(asked)[:3] == [
        "I want to visit Lisbon in May.",
        "Great! How long?",
        "4 days, 900 euros.",
    ]
    assert "summary" in texts(asked)[-1].lower()

    # A follow-up: the compacted output, then a new message.
    next_input = [part.model_dump(exclude_none=True) for part in compacted.output]
    next_input.append({"role": "user", "content": "Where should I stay?"})
    answer = client.responses.create(model=model, input=next_input)
    assert answer.output_text == "Stay in Alfama."
    seen = llm.received(model)[1]["messages"]
    # The user's messages, the summary (for the assistant's turn too), the new message.
    assert seen == [
        {"role": "user", "content": "I want to visit Lisbon in May."},
        {"role": "user", "content": "4 days, 900 euros."},
        {"role": "system", "content": f"A summary of the earlier part of this "
         f"conversation:\n{SUMMARY}"},
        {"role": "user", "content": "Where should I stay?"},
    ]  # fmt: skip
    # The item is listed as given, the summary never shown.
    (listed,) = [
        i for i in client.responses.input_items.list(answer.id).data if i.type == "compaction"
    ]
    assert listed.encrypted_content == item.encrypted_content and SUMMARY not in str(listed)


def test_compact_a_previous_response_leaves_it_as_it_was(
    client: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("Lisbon is lovely in May."), Text(SUMMARY), Text("Yes."))
    first = client.responses.create(model=model, input="I want to visit Lisbon in May.")
    compacted = client.responses.compact(model=model, previous_response_id=first.id)
    assert compacted.output[-1].type == "compaction"
    assert "Lisbon is lovely in May." in texts(llm.received(model)[1]["messages"])
    # The previous response and its context are untouched: it can still be continued.
    again = client.responses.create(model=model, previous_response_id=first.id, input="Sure?")
    assert again.output_text == "Yes."
    assert texts(llm.received(model)[2]["messages"]) == [
        "I want to visit Lisbon in May.",
        "Lisbon is lovely in May.",
        "Sure?",
    ]
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(compacted.id)  # the compaction's own response is gone


def test_a_compaction_in_a_conversation(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(Text(SUMMARY))
    compacted = client.responses.compact(model=model, input=HISTORY)
    conversation = client.conversations.create(
        items=[{"type": "compaction", "encrypted_content": compacted.output[-1].encrypted_content}]
    )
    (item,) = client.conversations.items.list(conversation.id).data
    assert item.type == "compaction" and item.id.startswith("cmp_")
    assert client.conversations.items.retrieve(item.id, conversation_id=conversation.id) == item


def test_bad_compactions_are_refused(
    client: OpenAI, http: httpx.Client, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("unused"))
    for reference in ("gAAAAABopenai-encrypted", "tlc1.Y21wX25vcGU"):
        reply = http.post(
            "/responses",
            json={
                "model": model,
                "input": [{"type": "compaction", "encrypted_content": reference}],
            },
        )
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["param"] == "input[0].encrypted_content"
    reply = http.post("/responses/compact", json={"input": "x"})
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "model"
    reply = http.post("/responses/compact", json={"model": model, "previous_response_id": "x"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "previous_response_id"
    # The model's server failing is said, as the model server's fault.
    failing = llm.model(Fail(400, "context too long"))
    reply = http.post("/responses/compact", json={"model": failing, "input": "hello"})
    assert reply.status_code == 424, reply.text
    assert reply.json()["error"]["type"] == "server_error"
