"""The statuses a run can be in, grouped by what they mean to its thread.

A module of its own because threads read them too (a thread refuses new messages while one
of its runs is active) and runs build on threads: this way neither imports the other the
wrong way round.
"""

from __future__ import annotations

# The run still owns its thread: at most one per thread (a unique index enforces it).
ACTIVE_STATUSES = ("queued", "in_progress", "requires_action", "cancelling")
# The run is over and changes no more.
TERMINAL_STATUSES = ("completed", "failed", "cancelled", "expired", "incomplete")
