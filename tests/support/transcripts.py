"""The event orders of the contract, for checking streams."""

from __future__ import annotations

import itertools

# The order the contract gives; `+` marks an event that repeats once or more.
TEXT_RUN = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta+",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
]
FUNCTION_RUN = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta+",
    "thread.run.requires_action",
    "done",
]
AFTER_OUTPUTS = ["thread.run.step.completed", "thread.run.queued", *TEXT_RUN[2:]]


def collapse(names: list[str]) -> list[str]:
    """Runs of a repeated delta event become one `<name>+`."""
    out = []
    for name, group in itertools.groupby(names):
        count = len(list(group))
        out.append(f"{name}+" if name.endswith(".delta") else name)
        if count > 1 and not name.endswith(".delta"):
            out += [name] * (count - 1)
    return out
