"""Emitting a run's events: first to the store, then onto the bus for streams."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.engine.events import Event, EventBus
from threadline.engine.store import RunStore
from threadline.runs.models import Run, RunStep
from threadline.runs.schemas import RunObject, RunStepObject
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import MessageObject, ThreadObject

_WIRE = {Run: RunObject, RunStep: RunStepObject, Message: MessageObject, Thread: ThreadObject}


def to_wire(obj: Any) -> Any:
    """The wire form of an event's object (deltas are already wire dicts)."""
    schema = _WIRE.get(type(obj))
    if schema is None:
        return obj
    return schema.model_validate(obj).model_dump(mode="json")


class Emitter:
    def __init__(self, store: RunStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus

    async def emit(
        self, run_id: str, *events: tuple[str, Any], quiet: Sequence[tuple[str, Any]] = ()
    ) -> None:
        """Store the events' objects (and `quiet` ones, which are not announced) in one
        transaction, then publish the events in order."""
        await self.store.apply([*quiet, *events])
        await self.publish(run_id, *events)

    async def publish(self, run_id: str, *events: tuple[str, Any]) -> None:
        """Publish events whose objects are already stored."""
        for name, obj in events:
            await self.bus.publish(run_id, Event(name, to_wire(obj)))
