"""What the engine reads: a queued run with what its first turn needs, a thread's
history, and a run's open steps and messages."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.assistants.models import Assistant
from threadline.conversations.models import ConversationItem
from threadline.db.engine import Database
from threadline.engine.history import History
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message, Thread
from threadline.tools.base import ToolContext


@dataclass
class Started:
    """A queued run, with what its first turn needs."""

    run: Run
    context: ToolContext
    history: History


class RunReader:
    def __init__(self, db: Database, builtin_types: Collection[str]) -> None:
        self.db = db
        self.builtin_types = frozenset(builtin_types)

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
            context = await self._tool_context(session, run)
            history = await thread_history(session, run.thread_id)
        return Started(run, context, history)

    async def history(self, thread_id: str) -> History:
        """A thread's messages, its tool-call steps that have ended and the calls a client
        added, oldest first."""
        async with self.db.read() as session:
            return await thread_history(session, thread_id)

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

    async def _tool_context(self, session: AsyncSession, run: Run) -> ToolContext:
        """What the run's built-in tools work with: the assistant's and thread's tool
        resources, files attached to the thread's messages, and the run's earlier calls.
        Runs with only function tools need none of it."""
        context = ToolContext(thread_id=run.thread_id, run_id=run.id)
        if not {tool["type"] for tool in run.tools} & self.builtin_types:
            return context
        context.options = {
            tool["type"]: tool.get(tool["type"]) or {}
            for tool in run.tools
            if tool["type"] in self.builtin_types
        }
        assistant = await session.get(Assistant, run.assistant_id)
        thread = await session.get(Thread, run.thread_id)
        context.project_id = thread.project_id if thread else ""
        for owner in (assistant, thread):
            for tool_type, section in ((owner.tool_resources if owner else None) or {}).items():
                _merge(context.resources.setdefault(tool_type, {}), section or {})
        steps = await session.scalars(
            select(RunStep)
            .where(RunStep.run_id == run.id, RunStep.type == "tool_calls")
            .order_by(RunStep.created_at, RunStep.id)
        )
        context.earlier_calls = [
            call for step in steps for call in step.step_details.get("tool_calls", [])
        ]
        attachments = await session.scalars(
            select(Message.attachments).where(
                Message.thread_id == run.thread_id, Message.attachments.is_not(None)
            )
        )
        for items in attachments:
            for item in items or []:
                for tool in item.get("tools", []):
                    attached = context.attached.setdefault(tool.get("type"), [])
                    if item["file_id"] not in attached:
                        attached.append(item["file_id"])
        return context


def _merge(into: dict[str, Any], section: dict[str, Any]) -> None:
    """Lists (file ids, store ids) add up without repeats; other values: the first wins."""
    for key, value in section.items():
        if isinstance(value, list):
            merged = into.setdefault(key, [])
            merged += [item for item in value if item not in merged]
        else:
            into.setdefault(key, value)


async def thread_history(session: AsyncSession, thread_id: str) -> History:
    """A thread's history as `session` sees it (a transaction's own writes included)."""
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
    added = await session.scalars(
        select(ConversationItem)
        .where(ConversationItem.thread_id == thread_id)
        .order_by(ConversationItem.position)
    )
    return History(list(messages), list(steps), list(added))
