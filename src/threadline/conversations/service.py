"""Conversations over threads: a conversation is a thread (`conv_X` is `thread_X`), and its
items are the thread's messages, its runs' function calls, and the calls a client added."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.conversations import compactions
from threadline.conversations import items as mapping
from threadline.conversations.models import ConversationItem
from threadline.conversations.schemas import (
    CompactionItemParam,
    CreateConversationRequest,
    FunctionCallOutputParam,
    FunctionCallParam,
    ItemReferenceParam,
    MessageItemParam,
)
from threadline.db.engine import Database
from threadline.errors import NotFound, invalid, not_found
from threadline.files.models import File
from threadline.files.service import require_files
from threadline.runs.models import RunStep
from threadline.threads import service as threads
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import CreateThreadRequest


def thread_id_of(conversation_id: str) -> str:
    """The thread a conversation id names (`conv_X`; a thread's own id is taken too)."""
    if conversation_id.startswith(ids.CONVERSATION):
        return ids.as_prefix(conversation_id, ids.THREAD)
    return conversation_id


def conversation_object(thread: Thread) -> dict[str, Any]:
    return {
        "id": ids.as_prefix(thread.id, ids.CONVERSATION),
        "object": "conversation",
        "created_at": thread.created_at,
        "metadata": thread.metadata_ or {},
    }


async def get_conversation(session: AsyncSession, project_id: str, conversation_id: str) -> Thread:
    try:
        return await threads.get_thread(session, project_id, thread_id_of(conversation_id))
    except NotFound:
        raise not_found("conversation", conversation_id) from None


@dataclass(frozen=True, slots=True)
class ItemPage:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None


# -- conversations ---------------------------------------------------------------------------


async def create_conversation(
    db: Database, project_id: str, body: CreateConversationRequest
) -> dict[str, Any]:
    async with db.write() as session:
        thread = await threads.insert_thread(
            session, project_id, CreateThreadRequest(metadata=body.metadata)
        )
        await add_items(session, project_id, thread, body.items or [], "items")
        return conversation_object(thread)


async def retrieve_conversation(db: Database, project_id: str, conversation_id: str):
    async with db.read() as session:
        return conversation_object(await get_conversation(session, project_id, conversation_id))


async def update_conversation(
    db: Database, project_id: str, conversation_id: str, metadata: dict[str, str]
) -> dict[str, Any]:
    async with db.write() as session:
        thread = await get_conversation(session, project_id, conversation_id)
        thread.metadata_ = metadata
        return conversation_object(thread)


async def delete_conversation(db: Database, project_id: str, conversation_id: str) -> str:
    """Deletes the conversation's thread, with its items, runs and steps."""
    async with db.write() as session:
        thread = await get_conversation(session, project_id, conversation_id)
        await session.delete(thread)
        return ids.as_prefix(thread.id, ids.CONVERSATION)


# -- items -----------------------------------------------------------------------------------


async def create_items(
    db: Database, project_id: str, conversation_id: str, given: Sequence[Any]
) -> list[dict[str, Any]]:
    async with db.write() as session:
        thread = await get_conversation(session, project_id, conversation_id)
        run_id = await threads.active_run_id(session, thread.id)
        if run_id:
            raise invalid(
                f"Can't add items to {conversation_id} while a run {run_id} is active.",
                param="items",
            )
        return await add_items(session, project_id, thread, given, "items")


async def add_items(
    session: AsyncSession, project_id: str, thread: Thread, given: Sequence[Any], param: str
) -> list[dict[str, Any]]:
    """Adds items to a thread, in their order, in the caller's transaction; the items as
    they now read."""
    added: list[dict[str, Any]] = []
    for index, item in enumerate(given):
        where = f"{param}[{index}]"
        if isinstance(item, ItemReferenceParam):
            item = await _referenced(session, project_id, item.id, where)
        if isinstance(item, MessageItemParam):
            message = await _add_message(session, project_id, thread.id, item, where)
            added.append(mapping.message_item(message, {}))
        elif isinstance(item, FunctionCallParam):
            row = mapping.call_row(thread.id, item)
            session.add(row)
            added.append(mapping.stored_item(row))
        elif isinstance(item, FunctionCallOutputParam):
            row = mapping.output_row(thread.id, item)
            session.add(row)
            added.append(mapping.stored_item(row))
        elif isinstance(item, CompactionItemParam):
            param = f"{where}.encrypted_content"
            found = await compactions.summary_of(session, project_id, item.encrypted_content, param)
            row = mapping.compaction_row(thread.id, item.encrypted_content, found)
            session.add(row)
            added.append(mapping.stored_item(row))
        else:
            raise AssertionError(f"unexpected item {item!r}")
    await session.flush()
    return added


async def _add_message(
    session: AsyncSession, project_id: str, thread_id: str, item: MessageItemParam, param: str
) -> Message:
    parts = mapping.MessageParts(item, param)
    await require_files(session, project_id, parts.files)
    message_id, created_at = ids.mint(ids.MESSAGE)
    message = Message(
        id=message_id,
        thread_id=thread_id,
        created_at=created_at,
        role=item.role,
        content=parts.content,
        attachments=parts.attachments,
        assistant_id=None,
        run_id=None,
        status=item.status or "completed",
        incomplete_details=None,
        completed_at=created_at,
        incomplete_at=None,
        metadata_={},
    )
    session.add(message)
    return message


async def _referenced(session: AsyncSession, project_id: str, item_id: str, param: str) -> Any:
    """The item an `item_reference` names, anywhere in the project, as an item to add."""
    found = await _find_anywhere(session, project_id, item_id)
    if found is None:
        raise invalid(f"No item found with id '{item_id}'.", param=f"{param}.id")
    copy = as_param(found)
    if copy is None:
        raise invalid(f"Item '{item_id}' cannot be added again.", param=f"{param}.id")
    return copy


def as_param(item: dict[str, Any]) -> Any:
    """An item as read, as the request that would add it again (a copy); None for a
    built-in tool's call, whose results were the model's to read then."""
    kind = item["type"]
    if kind == "message":
        return MessageItemParam.model_validate(
            {"role": item["role"], "content": item["content"], "status": item["status"]}
        )
    if kind == "function_call":
        return FunctionCallParam.model_validate(
            {key: item[key] for key in ("type", "call_id", "name", "arguments")}
        )
    if kind == "function_call_output":
        return FunctionCallOutputParam.model_validate(
            {key: item[key] for key in ("type", "call_id", "output")}
        )
    if kind == "compaction":
        return CompactionItemParam.model_validate(
            {"type": "compaction", "encrypted_content": item["encrypted_content"]}
        )
    return None


async def _find_anywhere(
    session: AsyncSession, project_id: str, item_id: str
) -> dict[str, Any] | None:
    if item_id.startswith(ids.MESSAGE):
        message = await session.get(Message, item_id)
        if message is None:
            return None
        thread = await session.get(Thread, message.thread_id)
        if thread is None or thread.project_id != project_id:
            return None
        return mapping.message_item(message, {})
    row = await session.get(ConversationItem, item_id)
    if row is not None:
        thread = await session.get(Thread, row.thread_id)
        return mapping.stored_item(row) if thread and thread.project_id == project_id else None
    return None


async def list_items(
    db: Database,
    project_id: str,
    conversation_id: str,
    page: ItemPage,
    include: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], bool]:
    async with db.read() as session:
        thread = await get_conversation(session, project_id, conversation_id)
        return await items_of(session, thread, page, include)


async def items_of(
    session: AsyncSession,
    thread: Thread,
    page: ItemPage,
    include: frozenset[str] = frozenset(),
) -> tuple[list[dict[str, Any]], bool]:
    """One page of a thread's items in their order, by a keyset on each item's place
    (`items.position`): messages and added items from their indexes, run calls from the
    thread's tool-call steps."""
    descending = page.order == "desc"
    cursor = mapping.position(page.after) if page.after else None
    messages_query = select(Message).where(Message.thread_id == thread.id)
    rows_query = select(ConversationItem).where(ConversationItem.thread_id == thread.id)
    if cursor is not None:
        bound = ids.MESSAGE + cursor
        messages_query = messages_query.where(
            Message.id < bound if descending else Message.id > bound
        )
        rows_query = rows_query.where(
            ConversationItem.position < cursor if descending else ConversationItem.position > cursor
        )
    messages_query = messages_query.order_by(
        Message.id.desc() if descending else Message.id.asc()
    ).limit(page.limit + 1)
    rows_query = rows_query.order_by(
        ConversationItem.position.desc() if descending else ConversationItem.position.asc()
    ).limit(page.limit + 1)
    messages = list(await session.scalars(messages_query))
    rows = list(await session.scalars(rows_query))
    steps = await call_steps(session, thread.id)
    filenames = await _filenames(session, mapping.cited_files(messages))
    placed = [(mapping.position(m.id), mapping.message_item(m, filenames)) for m in messages]
    placed += [(row.position, mapping.stored_item(row)) for row in rows]
    for step in steps:
        placed += [
            (place, item)
            for place, item in mapping.step_items(step, include)
            if cursor is None or (place < cursor if descending else place > cursor)
        ]
    placed.sort(key=lambda entry: entry[0], reverse=descending)
    found = [item for _, item in placed[: page.limit + 1]]
    return found[: page.limit], len(found) > page.limit


async def call_steps(session: AsyncSession, thread_id: str) -> list[RunStep]:
    return list(
        await session.scalars(
            select(RunStep).where(RunStep.thread_id == thread_id, RunStep.type == "tool_calls")
        )
    )


async def _filenames(session: AsyncSession, file_ids: set[str]) -> dict[str, str]:
    if not file_ids:
        return {}
    rows = await session.execute(select(File.id, File.filename).where(File.id.in_(file_ids)))
    return {file_id: filename for file_id, filename in rows.all()}


async def find_item(
    session: AsyncSession, thread: Thread, item_id: str, include: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], Message | ConversationItem | RunStep]:
    """An item of the thread with what holds it, or NotFound."""
    if item_id.startswith(ids.MESSAGE):
        message = await session.get(Message, item_id)
        if message is not None and message.thread_id == thread.id:
            filenames = await _filenames(session, mapping.cited_files([message]))
            return mapping.message_item(message, filenames), message
    row = await session.get(ConversationItem, item_id)
    if row is not None and row.thread_id == thread.id:
        return mapping.stored_item(row), row
    if item_id.startswith((ids.FUNCTION_CALL, ids.FUNCTION_CALL_OUTPUT, ids.FILE_SEARCH_CALL)):
        for step in await call_steps(session, thread.id):
            for _, item in mapping.step_items(step, include):
                if item["id"] == item_id:
                    return item, step
    raise not_found("item", item_id)


async def retrieve_item(
    db: Database,
    project_id: str,
    conversation_id: str,
    item_id: str,
    include: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    async with db.read() as session:
        thread = await get_conversation(session, project_id, conversation_id)
        return (await find_item(session, thread, item_id, include))[0]


async def delete_item(
    db: Database, project_id: str, conversation_id: str, item_id: str
) -> dict[str, Any]:
    """Removes the item; the conversation as it now is. A run's call and its output are one
    entry of the run's step: deleting either removes both."""
    async with db.write() as session:
        thread = await get_conversation(session, project_id, conversation_id)
        item, holder = await find_item(session, thread, item_id)
        if isinstance(holder, RunStep):
            details = dict(holder.step_details)
            call_id = item.get("call_id") or ids.as_prefix(item_id, ids.CALL)
            details["tool_calls"] = [
                call for call in details.get("tool_calls", []) if call["id"] != call_id
            ]
            holder.step_details = details
        else:
            await session.delete(holder)
        return conversation_object(thread)
