"""Publishing a run's events: each event's object in its wire form, onto the bus.

Events are `(name, object)` pairs, the object a row (run, step, message, thread) or a
delta that is already a wire dict. Whoever publishes has stored the row first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from threadline.events.bus import Event, EventBus
from threadline.events.names import STORED_ONLY
from threadline.runs.models import Run, RunStep
from threadline.runs.schemas import RunObject, RunStepObject
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import MessageObject, ThreadObject

Announcement = tuple[str, Any]

_WIRE = {Run: RunObject, RunStep: RunStepObject, Message: MessageObject, Thread: ThreadObject}


def to_wire(obj: Any) -> Any:
    """The wire form of an event's object (deltas are already wire dicts)."""
    schema = _WIRE.get(type(obj))
    if schema is None:
        return obj
    return schema.model_validate(obj).model_dump(mode="json")


async def publish(bus: EventBus, run_id: str, events: Iterable[Announcement]) -> None:
    """Publish events whose objects are already stored, in order (stored-only changes are
    left out)."""
    for name, obj in events:
        if name in STORED_ONLY:
            continue
        await bus.publish(run_id, Event(name, to_wire(obj)))
