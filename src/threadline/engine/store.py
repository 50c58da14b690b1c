"""The store as a consumer of run events: each event's object is written before it is
published, so that a client that reads after an event sees what the event said.

The engine works on detached snapshots of runs, steps and messages; this module copies
the columns the engine owns into the database. Run status changes are guarded
transitions (`runs.lifecycle`), so a concurrent cancel or expiry is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from threadline.db.engine import Database
from threadline.runs import lifecycle
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message, Thread

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
)
MESSAGE_FIELDS = ("status", "content", "completed_at", "incomplete_at", "incomplete_details")
# Events whose object is already stored as it is (or was written by the service).
_NOTHING_TO_WRITE = frozenset(
    {
        "thread.created",
        "thread.run.created",
        "thread.run.step.in_progress",
        "thread.message.in_progress",
    }
)


def copy_of(row: Any) -> Any:
    """A new, detached instance with the same column values."""
    mapper = type(row).__mapper__
    return type(row)(**{attr.key: getattr(row, attr.key) for attr in mapper.column_attrs})


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
                    session.add(copy_of(obj))
                    await session.flush()
                elif isinstance(obj, RunStep):
                    await session.execute(
                        update(RunStep)
                        .where(RunStep.id == obj.id)
                        .values({f: getattr(obj, f) for f in STEP_FIELDS})
                    )
                elif isinstance(obj, Message):
                    await session.execute(
                        update(Message)
                        .where(Message.id == obj.id)
                        .values({f: getattr(obj, f) for f in MESSAGE_FIELDS})
                    )

    async def load_run(self, run_id: str) -> Run | None:
        async with self.db.read() as session:
            return await session.get(Run, run_id)

    async def load_thread(self, thread_id: str) -> Thread | None:
        async with self.db.read() as session:
            return await session.get(Thread, thread_id)

    async def history(self, thread_id: str) -> tuple[list[Message], list[RunStep]]:
        """A thread's messages and its tool-call steps that have ended, oldest first."""
        async with self.db.read() as session:
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


def _writes(name: str) -> bool:
    return name not in _NOTHING_TO_WRITE and not name.endswith(".delta")
