"""Compaction (`POST /responses/compact`): the model summarizes a context into a
`compaction` item, which later requests take as input in place of that context.

The summary is the model's, written through the engine as any response's answer is (the
same queue, workers, retries and usage): a response of its own, on a thread of its own that
holds the context (the previous response's, copied; then the input) and, last, the
instruction to summarize. Once it has ended, nothing of it stays but the summary, kept with
the project (`conversations/compactions.py`); the item names it by an opaque reference.

The output is the compaction item alone. OpenAI's puts the context's user messages before
it, but the official SDKs read a compaction's output as output items, in which a user
message does not parse; so the item carries them: their text is kept with the summary and
given to the model before it wherever the item is used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from threadline import ids
from threadline.conversations import compactions
from threadline.conversations.models import Compaction
from threadline.conversations.schemas import MessageItemParam
from threadline.db.engine import Database
from threadline.errors import ModelFailed
from threadline.files.storage import FileStorage
from threadline.responses import service
from threadline.responses.objects import usage_object
from threadline.responses.schemas import CompactRequest, CreateResponseRequest
from threadline.runs.channels import RunChannels
from threadline.runs.models import Run
from threadline.threads.models import Message

INSTRUCTION = (
    "Context checkpoint. Write a summary of the conversation so far for an assistant who "
    "will continue it without seeing it: the user's goals and requests, the facts, names, "
    "numbers and decisions given, what was done (tool calls and what they returned) and "
    "what is left to do. Write only the summary, in plain text."
)


async def compact(
    db: Database,
    storage: FileStorage,
    channels: RunChannels,
    project_id: str,
    body: CompactRequest,
    api_key_id: str | None = None,
) -> dict[str, Any]:
    given = body.input
    items = (
        [MessageItemParam(role="user", content=given)]
        if isinstance(given, str)
        else list(given or [])
    )
    request = CreateResponseRequest.model_construct(
        model=body.model,
        input=[*items, MessageItemParam(role="user", content=INSTRUCTION)],
        previous_response_id=body.previous_response_id,
        instructions=body.instructions,
        store=True,
    )
    created = await service.create_response(
        db, storage, channels, project_id, request, api_key_id, branch=True
    )
    try:
        assert created.events is not None
        await service.wait_for_end(created.events)
        async with db.read() as session:
            run = await session.get(Run, created.row.run_id, populate_existing=True)
            assert run is not None
            messages = list(
                await session.scalars(
                    select(Message)
                    .where(Message.thread_id == created.row.thread_id)
                    .order_by(Message.created_at, Message.id)
                )
            )
        summary = _summary(run, messages)
        instruction = created.row.input_items[-1]
        users = [
            _text(message)
            for message in messages
            if message.role == "user" and message.id != instruction
        ]
        compaction_id, created_at = ids.mint(ids.COMPACTION)
        async with db.write() as session:
            session.add(
                Compaction(
                    id=compaction_id,
                    project_id=project_id,
                    created_at=created_at,
                    model=run.model,
                    summary=summary,
                    user_messages=[text for text in users if text],
                )
            )
    finally:
        await service.forget(db, created.response_id)
    item = {
        "type": "compaction",
        "id": compaction_id,
        "encrypted_content": compactions.reference(compaction_id),
    }
    return {
        "id": created.response_id,
        "object": "response.compaction",
        "output": [item],
        "created_at": created.row.created_at,
        "usage": usage_object(run.usage or {}),
    }


def _summary(run: Run, messages: list[Message]) -> str:
    """The model's summary; `ModelFailed` when its call failed or it wrote none."""
    if run.status not in ("completed", "incomplete"):
        error = run.last_error or {}
        raise ModelFailed(
            "The model could not write the compaction's summary: "
            f"{error.get('message') or run.status}",
            code=error.get("code") or "server_error",
        )
    text = "".join(
        _text(message)
        for message in messages
        if message.run_id == run.id and message.role == "assistant"
    ).strip()
    if not text:
        raise ModelFailed("The model wrote an empty summary; nothing was compacted.")
    return text


def _text(message: Message) -> str:
    return "".join(part["text"]["value"] for part in message.content if part.get("type") == "text")
