"""Threads and messages: creation with their references checked, reads, changes, deletion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.db.base import IdType
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import invalid, not_found
from threadline.files.service import require_files
from threadline.run_status import ACTIVE_STATUSES
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import (
    ASSISTANTS_ROLES,
    CreateMessageRequest,
    CreateThreadRequest,
    ImageFilePart,
    ModifyMessageRequest,
    ModifyThreadRequest,
    content_to_wire,
)
from threadline.tools import resources
from threadline.vector_stores import service as vector_stores
from threadline.vector_stores.schemas import chunking_to_wire

# The columns of the runs table that tell whether a thread has an active run. Runs build on
# threads (their messages are a thread's), so threads may not import `threadline.runs`; this
# bare view of the table is all the question needs.
_runs = table("runs", column("id", IdType), column("thread_id", IdType), column("status", String))


async def get_thread(session: AsyncSession, project_id: str, thread_id: str) -> Thread:
    return await owned(session, Thread, thread_id, "thread", project_id=project_id)


async def active_run_id(session: AsyncSession, thread_id: str) -> str | None:
    """The id of the thread's active run, if it has one."""
    return await session.scalar(
        select(_runs.c.id).where(
            _runs.c.thread_id == thread_id, _runs.c.status.in_(ACTIVE_STATUSES)
        )
    )


def _file_refs(body: CreateMessageRequest, param: str) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    if isinstance(body.content, list):
        refs += [
            (part.image_file.file_id, f"{param}content[{index}].image_file.file_id")
            for index, part in enumerate(body.content)
            if isinstance(part, ImageFilePart)
        ]
    refs += [
        (attachment.file_id, f"{param}attachments[{index}].file_id")
        for index, attachment in enumerate(body.attachments or [])
    ]
    return refs


async def add_message(
    session: AsyncSession,
    project_id: str,
    thread_id: str,
    body: CreateMessageRequest,
    param: str = "",
    **fields: Any,
) -> Message:
    """Insert a completed message built from a create request; `param` prefixes error params.

    `fields` set what only the server may set (`run_id`, `assistant_id`).
    """
    await require_files(session, project_id, _file_refs(body, param))
    message_id, created_at = ids.mint(ids.MESSAGE)
    attachments = [
        {"file_id": a.file_id, "tools": [{"type": t.type} for t in a.tools]}
        for a in body.attachments or []
    ]
    row = Message(
        id=message_id,
        thread_id=thread_id,
        created_at=created_at,
        role=body.role,
        content=content_to_wire(body.content),
        attachments=attachments,
        assistant_id=fields.get("assistant_id"),
        run_id=fields.get("run_id"),
        status="completed",
        incomplete_details=None,
        completed_at=created_at,
        incomplete_at=None,
        metadata_=body.metadata or {},
    )
    session.add(row)
    searchable = [
        (a.file_id, f"{param}attachments[{i}].file_id")
        for i, a in enumerate(body.attachments or [])
        if any(tool.type == "file_search" for tool in a.tools)
    ]
    if searchable:
        await _add_to_thread_store(session, project_id, thread_id, searchable)
    return row


async def _add_to_thread_store(
    session: AsyncSession, project_id: str, thread_id: str, files: list[tuple[str, str]]
) -> None:
    """Files attached for file_search join the thread's vector store, made if it has none
    (as the hosted API did)."""
    thread = await session.get(Thread, thread_id)
    assert thread is not None
    store_ids = (thread.tool_resources.get("file_search") or {}).get("vector_store_ids") or []
    strategy = chunking_to_wire(None)
    new = [vector_stores.NewFile(file_id, strategy, None, param) for file_id, param in files]
    if store_ids:
        await vector_stores.add_files(session, project_id, store_ids[0], new)
        return
    store = await vector_stores.insert_store(
        session, project_id, name=f"Files of {thread_id}", files=new
    )
    thread.tool_resources = {
        **thread.tool_resources,
        "file_search": {"vector_store_ids": [store.id]},
    }


# -- threads ----------------------------------------------------------------------------------


async def insert_thread(
    session: AsyncSession, project_id: str, body: CreateThreadRequest, param: str = ""
) -> Thread:
    """A new thread with its initial messages, in the caller's transaction."""
    thread_id, created_at = ids.mint(ids.THREAD)
    thread = Thread(
        id=thread_id,
        project_id=project_id,
        created_at=created_at,
        tool_resources=await resources.resolve(
            session, project_id, body.tool_resources, f"{param}tool_resources"
        ),
        metadata_=body.metadata or {},
    )
    session.add(thread)
    await session.flush()
    for index, message in enumerate(body.messages or []):
        await add_message(session, project_id, thread_id, message, f"{param}messages[{index}].")
    return thread


async def create_thread(db: Database, project_id: str, body: CreateThreadRequest) -> Thread:
    async with db.write() as session:
        return await insert_thread(session, project_id, body)


async def list_threads(
    db: Database,
    project_id: str,
    page: PageQuery,
    metadata: dict[str, str] | None = None,
    id_prefix: str | None = None,
) -> tuple[list[Thread], bool]:
    """A project's threads (a Threadline extension: the API has no thread list), paged like
    every list; those whose metadata holds every given pair, and whose id starts with
    `id_prefix`."""
    where = [Thread.project_id == project_id, Thread.hidden.is_(False)]
    for key, value in (metadata or {}).items():
        where.append(Thread.metadata_[key].as_string() == value)
    if id_prefix:
        where.append(Thread.id.startswith(id_prefix, autoescape=True))
    async with db.read() as session:
        return await fetch_page(session, Thread, where, page)


async def retrieve_thread(db: Database, project_id: str, thread_id: str) -> Thread:
    async with db.read() as session:
        return await get_thread(session, project_id, thread_id)


async def modify_thread(
    db: Database, project_id: str, thread_id: str, body: ModifyThreadRequest
) -> Thread:
    changes = body.given()
    async with db.write() as session:
        thread = await get_thread(session, project_id, thread_id)
        if "tool_resources" in changes:
            given = await resources.resolve(session, project_id, body.tool_resources)
            thread.tool_resources = {**thread.tool_resources, **given}
        if "metadata" in changes:
            thread.metadata_ = body.metadata or {}
    return thread


async def delete_thread(db: Database, project_id: str, thread_id: str) -> None:
    """Deletes the thread; its messages, runs and steps go with it (ON DELETE CASCADE)."""
    async with db.write() as session:
        await session.delete(await get_thread(session, project_id, thread_id))


# -- messages ---------------------------------------------------------------------------------


async def create_message(
    db: Database, project_id: str, thread_id: str, body: CreateMessageRequest
) -> Message:
    async with db.write() as session:
        await get_thread(session, project_id, thread_id)
        run_id = await active_run_id(session, thread_id)
        if run_id:
            raise invalid(f"Can't add messages to {thread_id} while a run {run_id} is active.")
        return await add_message(session, project_id, thread_id, body)


async def _get_message(
    session: AsyncSession, project_id: str, thread_id: str, message_id: str
) -> Message:
    await get_thread(session, project_id, thread_id)
    message = await owned(session, Message, message_id, "message", thread_id=thread_id)
    if message.role not in ASSISTANTS_ROLES:
        raise not_found("message", message_id)
    return message


async def retrieve_message(
    db: Database, project_id: str, thread_id: str, message_id: str
) -> Message:
    async with db.read() as session:
        return await _get_message(session, project_id, thread_id, message_id)


async def modify_message(
    db: Database, project_id: str, thread_id: str, message_id: str, body: ModifyMessageRequest
) -> Message:
    async with db.write() as session:
        row = await _get_message(session, project_id, thread_id, message_id)
        if "metadata" in body.given():
            row.metadata_ = body.metadata or {}
    return row


async def delete_message(db: Database, project_id: str, thread_id: str, message_id: str) -> None:
    async with db.write() as session:
        await session.delete(await _get_message(session, project_id, thread_id, message_id))


async def list_messages(
    db: Database, project_id: str, thread_id: str, page: PageQuery, run_id: str | None
) -> tuple[list[Message], bool]:
    where = [Message.thread_id == thread_id, Message.role.in_(ASSISTANTS_ROLES)]
    if run_id:
        where.append(Message.run_id == run_id)
    async with db.read() as session:
        await get_thread(session, project_id, thread_id)
        return await fetch_page(session, Message, where, page)
