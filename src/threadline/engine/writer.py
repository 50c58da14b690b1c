"""The store as a consumer of run events: each event's object is written before it is
published, so that a client that reads after an event sees what the event said.

The engine works on detached snapshots of runs, steps and messages; this module copies the
columns the engine owns into the database. Run and step status changes are guarded
transitions (`runs/lifecycle.py`), so a concurrent cancel or expiry is never overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, update

from threadline.db.engine import Database
from threadline.events.names import EventName
from threadline.runs import lifecycle
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message

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
_MESSAGE_UPDATE = update(Message.__table__).where(Message.__table__.c.id == bindparam("row_id"))
# Only a message still in progress is removed (one that an ending left without text).
_MESSAGE_REMOVAL = delete(Message.__table__).where(
    Message.__table__.c.id == bindparam("row_id"), Message.__table__.c.status == "in_progress"
)
# The engine creates steps and messages; runs and threads are created by the services.
_CREATED = frozenset({EventName.STEP_CREATED, EventName.MESSAGE_CREATED})
# Events whose object is already stored as it is (or was written by the service).
_NOTHING_TO_WRITE = frozenset(
    {
        EventName.THREAD_CREATED,
        EventName.RUN_CREATED,
        EventName.STEP_IN_PROGRESS,
        EventName.MESSAGE_IN_PROGRESS,
        EventName.STEP_DELTA,
        EventName.MESSAGE_DELTA,
    }
)


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


class EventWriter:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def apply(self, events: Sequence[tuple[str, Any]]) -> None:
        """Write the objects of `events`, all in one transaction."""
        writes = [(name, obj) for name, obj in events if name not in _NOTHING_TO_WRITE]
        if not writes:
            return
        async with self.db.write() as session:
            for name, obj in writes:
                if name == EventName.MESSAGE_REMOVED:
                    await session.execute(_MESSAGE_REMOVAL, {"row_id": obj.id})
                elif name in _CREATED:
                    await session.execute(insert(type(obj).__table__), column_values(obj))
                elif isinstance(obj, Run):
                    fields = {f: getattr(obj, f) for f in RUN_FIELDS}
                    await lifecycle.transition(session, obj.id, obj.status, **fields)
                elif isinstance(obj, RunStep):
                    fields = {f: getattr(obj, f) for f in STEP_FIELDS}
                    await lifecycle.step_transition(session, obj.id, obj.status, **fields)
                elif isinstance(obj, Message):
                    values = {f: getattr(obj, f) for f in MESSAGE_FIELDS}
                    await session.execute(_MESSAGE_UPDATE, {"row_id": obj.id, **values})
