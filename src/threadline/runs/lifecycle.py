"""The run state machine: which status may follow which, applied as guarded updates.

A transition is one `UPDATE ... WHERE id = :id AND status IN (:allowed)`; when another
actor moved the run first (a cancel, an expiry), nothing is written and the caller hears
of it through `IllegalTransition`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.runs.models import ACTIVE_STATUSES, TERMINAL_STATUSES, Run

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

STREAM_ENDING_STATUSES = (*TERMINAL_STATUSES, "requires_action")

__all__ = [
    "ACTIVE_STATUSES",
    "ALLOWED_FROM",
    "STREAM_ENDING_STATUSES",
    "TERMINAL_STATUSES",
    "IllegalTransition",
    "transition",
]


class IllegalTransition(Exception):
    def __init__(self, run_id: str, to_status: str) -> None:
        super().__init__(f"run {run_id} cannot move to {to_status} from its current status")
        self.run_id = run_id
        self.to_status = to_status


_runs = Run.__table__
# One statement per target status, built once (a run changes status several times each);
# the SET clause comes from the parameters each call passes.
_GUARDED_UPDATES = {
    status: update(_runs).where(_runs.c.id == bindparam("run_id"), _runs.c.status.in_(allowed))
    for status, allowed in ALLOWED_FROM.items()
}


async def transition(session: AsyncSession, run_id: str, to_status: str, **fields: Any) -> None:
    """Move a run to `to_status` (and set `fields`) if its current status allows it."""
    result = await session.execute(
        _GUARDED_UPDATES[to_status], {"run_id": run_id, "status": to_status, **fields}
    )
    if result.rowcount != 1:
        raise IllegalTransition(run_id, to_status)
