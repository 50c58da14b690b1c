"""The names of run events: the streaming event names of the Assistants API.

One enum for every producer and consumer (the engine, the store, SSE, the runs service), so
that a name is spelled once. Members are strings: they go on the wire as they are.
"""

from __future__ import annotations

from enum import StrEnum


class EventName(StrEnum):
    THREAD_CREATED = "thread.created"
    RUN_CREATED = "thread.run.created"
    RUN_QUEUED = "thread.run.queued"
    RUN_IN_PROGRESS = "thread.run.in_progress"
    RUN_REQUIRES_ACTION = "thread.run.requires_action"
    RUN_COMPLETED = "thread.run.completed"
    RUN_INCOMPLETE = "thread.run.incomplete"
    RUN_FAILED = "thread.run.failed"
    RUN_CANCELLING = "thread.run.cancelling"
    RUN_CANCELLED = "thread.run.cancelled"
    RUN_EXPIRED = "thread.run.expired"
    STEP_CREATED = "thread.run.step.created"
    STEP_IN_PROGRESS = "thread.run.step.in_progress"
    STEP_DELTA = "thread.run.step.delta"
    # Not a streaming event: a step changed without being announced (stored only).
    STEP_UPDATED = "thread.run.step.updated"
    STEP_COMPLETED = "thread.run.step.completed"
    STEP_FAILED = "thread.run.step.failed"
    STEP_CANCELLED = "thread.run.step.cancelled"
    STEP_EXPIRED = "thread.run.step.expired"
    MESSAGE_CREATED = "thread.message.created"
    MESSAGE_IN_PROGRESS = "thread.message.in_progress"
    MESSAGE_DELTA = "thread.message.delta"
    MESSAGE_COMPLETED = "thread.message.completed"
    MESSAGE_INCOMPLETE = "thread.message.incomplete"
    # Not a streaming event: an unfinished message with no text removed (stored only).
    MESSAGE_REMOVED = "thread.message.removed"
    DONE = "done"
    # Not an Assistants streaming event: a built-in tool's call, fully written, has begun to
    # run (the Responses API says `searching`, `interpreting`). Assistants streams skip it.
    CALL_RUNNING = "engine.call.running"


def run_event(status: str) -> EventName:
    """The event that announces a run entering `status`."""
    return EventName(f"thread.run.{status}")


def message_event(status: str) -> EventName:
    """The event that announces a message entering `status`."""
    return EventName(f"thread.message.{status}")


# Changes the store writes and streams never hear of.
STORED_ONLY = frozenset({EventName.STEP_UPDATED, EventName.MESSAGE_REMOVED})
# Events the engine announces that the Assistants API has no event for.
ENGINE_ONLY = frozenset({EventName.CALL_RUNNING})

# A run's stream ends after one of these (then `done`).
RUN_STREAM_ENDS = frozenset(
    {
        EventName.RUN_REQUIRES_ACTION,
        EventName.RUN_COMPLETED,
        EventName.RUN_INCOMPLETE,
        EventName.RUN_FAILED,
        EventName.RUN_CANCELLED,
        EventName.RUN_EXPIRED,
    }
)
