"""The store as a consumer of run events: each event's object is written before it is
published, so that a client that reads after an event sees what the event said.

The engine works on detached snapshots of runs, steps and messages; this module copies
the columns the engine owns into the database. Run status changes are guarded
transitions (`runs.lifecycle`), so a concurrent cancel or expiry is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.assistants.models import Assistant
from threadline.db.engine import Database
from threadline.runs import lifecycle
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message, Thread
from threadline.tools import file_search

RUN_FIELDS = (
    "required_action",
    "last_error",
    "expires_at",
    "started_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "incomplete_details",
    "usage",
)
STEP_FIELDS = (
    "status",
    "step_details",
    "last_error",
    "expired_at",
    "cancelled_at",
    "failed_at",
    "completed_at",
    "usage",
    "inputs",
)
MESSAGE_FIELDS = ("status", "content", "completed_at", "incomplete_at", "incomplete_details")
# Built once; the SET clause comes from the parameters of each call.
_STEP_UPDATE = update(RunStep.__table__).where(RunStep.__table__.c.id == bindparam("row_id"))
_MESSAGE_UPDATE = update(Message.__table__).where(Message.__table__.c.id == bindparam("row_id"))
# Events whose object is already stored as it is (or was written by the service).
_NOTHING_TO_WRITE = frozenset(
    {
        "thread.created",
        "thread.run.created",
        "thread.run.step.in_progress",
        "thread.message.in_progress",
    }
)


@dataclass
class ToolContext:
    project_id: str = ""
    store_ids: list[str] = field(default_factory=list)
    code_files: list[str] = field(default_factory=list)
    sources: list[file_search.Source] = field(default_factory=list)


@dataclass
class Started:
    """A queued run, with what its first turn needs."""

    run: Run
    context: ToolContext
    messages: list[Message]
    steps: list[RunStep]


def snapshot(row: Any) -> Any:
    """A new, detached instance with the same column values (the engine goes on changing
    its own while an event about the row waits to be written)."""
    mapper = type(row).__mapper__
    return type(row)(**{attr.key: getattr(row, attr.key) for attr in mapper.column_attrs})


def column_values(row: Any) -> dict[str, Any]:
    """A mapped object's values by column name, for a Core insert (the ORM's unit of work
    costs about a millisecond a flush, and the engine's objects need none of it)."""
    mapper = type(row).__mapper__
    return {attr.columns[0].key: getattr(row, attr.key) for attr in mapper.column_attrs}


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def apply(self, events: Sequence[tuple[str, Any]]) -> None:
        """Write the objects of `events`, all in one transaction."""
        writes = [(name, obj) for name, obj in events if _writes(name)]
        if not writes:
            return
        async with self.db.write() as session:
            for name, obj in writes:
                if isinstance(obj, Run):
                    await lifecycle.transition(
                        session, obj.id, obj.status, **{f: getattr(obj, f) for f in RUN_FIELDS}
                    )
                elif name.endswith(".created"):
                    await session.execute(insert(type(obj).__table__), column_values(obj))
                elif isinstance(obj, RunStep):
                    values = {f: getattr(obj, f) for f in STEP_FIELDS}
                    await session.execute(_STEP_UPDATE, {"row_id": obj.id, **values})
                elif isinstance(obj, Message):
                    values = {f: getattr(obj, f) for f in MESSAGE_FIELDS}
                    await session.execute(_MESSAGE_UPDATE, {"row_id": obj.id, **values})

    async def load_run(self, run_id: str) -> Run | None:
        async with self.db.read() as session:
            return await session.get(Run, run_id)

    async def prepare(self, run_id: str) -> Started | Run | None:
        """What a queued run's first turn needs, read in one transaction; the run alone when
        it is not queued, None when it is gone."""
        async with self.db.read() as session:
            run = await session.get(Run, run_id)
            if run is None or run.status != "queued":
                return run
            context = await _tool_context(session, run)
            messages, steps = await _history(session, run.thread_id)
        return Started(run, context, messages, steps)

    async def history(self, thread_id: str) -> tuple[list[Message], list[RunStep]]:
        """A thread's messages and its tool-call steps that have ended, oldest first."""
        async with self.db.read() as session:
            return await _history(session, thread_id)

    async def open_steps(self, run_id: str) -> list[RunStep]:
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    select(RunStep).where(RunStep.run_id == run_id, RunStep.status == "in_progress")
                )
            )

    async def open_messages(self, run_id: str) -> list[Message]:
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    select(Message).where(Message.run_id == run_id, Message.status == "in_progress")
                )
            )


async def _history(session: AsyncSession, thread_id: str) -> tuple[list[Message], list[RunStep]]:
    messages = await session.scalars(
        select(Message)
        .where(Message.thread_id == thread_id)
        .order_by(Message.created_at, Message.id)
    )
    steps = await session.scalars(
        select(RunStep)
        .where(
            RunStep.thread_id == thread_id,
            RunStep.type == "tool_calls",
            RunStep.status == "completed",
        )
        .order_by(RunStep.created_at, RunStep.id)
    )
    return list(messages), list(steps)


async def _tool_context(session: AsyncSession, run: Run) -> ToolContext:
    """What the run's tools work with: its assistant's and thread's vector stores and code
    files, its thread's attached code files, and what its searches found so far. Only the
    tools Threadline runs itself need any of it."""
    kinds = {tool["type"] for tool in run.tools}
    if not kinds & {"file_search", "code_interpreter"}:
        return ToolContext()
    assistant = await session.get(Assistant, run.assistant_id)
    thread = await session.get(Thread, run.thread_id)
    steps = await session.scalars(
        select(RunStep)
        .where(RunStep.run_id == run.id, RunStep.type == "tool_calls")
        .order_by(RunStep.created_at, RunStep.id)
    )
    sources = [
        file_search.Source(result["file_id"], result["file_name"])
        for step in steps
        for call in step.step_details.get("tool_calls", [])
        if call.get("type") == "file_search"
        for result in call["file_search"].get("results", [])
    ]
    attachments = await session.scalars(
        select(Message.attachments).where(
            Message.thread_id == run.thread_id, Message.attachments.is_not(None)
        )
    )
    attached = [
        item["file_id"]
        for items in attachments
        for item in items or []
        if any(tool.get("type") == "code_interpreter" for tool in item.get("tools", []))
    ]
    context = ToolContext(project_id=thread.project_id if thread else "", sources=sources)
    for owner in (assistant, thread):
        resources = (owner.tool_resources if owner else None) or {}
        for store_id in (resources.get("file_search") or {}).get("vector_store_ids") or []:
            if store_id not in context.store_ids:
                context.store_ids.append(store_id)
        for file_id in (resources.get("code_interpreter") or {}).get("file_ids") or []:
            if file_id not in context.code_files:
                context.code_files.append(file_id)
    context.code_files += [f for f in attached if f not in context.code_files]
    return context


def _writes(name: str) -> bool:
    return name not in _NOTHING_TO_WRITE and not name.endswith(".delta")
