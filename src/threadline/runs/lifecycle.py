"""The run and step state machines: which status may follow which, applied as guarded
updates.

A transition is one `UPDATE ... WHERE id = :id AND status IN (:allowed)`; when another
actor moved the run (or step) first (a cancel, an expiry), nothing is written and the
caller hears of it through `IllegalTransition`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Run, RunStep

# status -> the statuses it may be entered from
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    # After submit_tool_outputs, or a run picked up again after a restart.
    "queued": ("requires_action", "in_progress"),
    "in_progress": ("queued",),
    "requires_action": ("in_progress",),
    "completed": ("in_progress",),
    "incomplete": ("in_progress",),
    "failed": ("queued", "in_progress"),
    "cancelling": ("queued", "in_progress", "requires_action"),
    "cancelled": ("cancelling",),
    "expired": ("requires_action", "queued", "in_progress"),
}

# A step is written while in progress (its details grow) and ends once.
STEP_ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    status: ("in_progress",)
    for status in ("in_progress", "completed", "failed", "cancelled", "expired")
}

STREAM_ENDING_STATUSES = (*TERMINAL_STATUSES, "requires_action")

__all__ = [
    "ACTIVE_STATUSES",
    "ALLOWED_FROM",
    "STEP_ALLOWED_FROM",
    "STREAM_ENDING_STATUSES",
    "TERMINAL_STATUSES",
    "IllegalTransition",
    "step_transition",
    "transition",
]


class IllegalTransition(Exception):
    def __init__(self, object_id: str, to_status: str, kind: str = "run") -> None:
        super().__init__(f"{kind} {object_id} cannot move to {to_status} from its current status")
        self.run_id = object_id
        self.to_status = to_status


def _guarded(table: Table, allowed_from: dict[str, tuple[str, ...]]) -> dict[str, Update]:
    # One statement per target status, built once (a run changes status several times
    # each); the SET clause comes from the parameters each call passes.
    return {
        status: update(table).where(table.c.id == bindparam("row_id"), table.c.status.in_(allowed))
        for status, allowed in allowed_from.items()
    }


_RUN_UPDATES = _guarded(Run.__table__, ALLOWED_FROM)
_STEP_UPDATES = _guarded(RunStep.__table__, STEP_ALLOWED_FROM)


async def transition(session: AsyncSession, run_id: str, to_status: str, **fields: Any) -> None:
    """Move a run to `to_status` (and set `fields`) if its current status allows it."""
    result = await session.execute(
        _RUN_UPDATES[to_status], {"row_id": run_id, "status": to_status, **fields}
    )
    if result.rowcount != 1:
        raise IllegalTransition(run_id, to_status)


async def step_transition(
    session: AsyncSession, step_id: str, to_status: str, **fields: Any
) -> None:
    """Move a step to `to_status` (and set `fields`): only a step in progress changes."""
    result = await session.execute(
        _STEP_UPDATES[to_status], {"row_id": step_id, "status": to_status, **fields}
    )
    if result.rowcount != 1:
        raise IllegalTransition(step_id, to_status, "step")
