"""Emitting a run's events: first to the store, then onto the bus for streams."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from threadline.engine.writer import EventWriter
from threadline.events.bus import EventBus
from threadline.runs import announce


class Emitter:
    def __init__(self, writer: EventWriter, bus: EventBus) -> None:
        self.writer = writer
        self.bus = bus

    async def emit(
        self, run_id: str, *events: tuple[str, Any], quiet: Sequence[tuple[str, Any]] = ()
    ) -> None:
        """Store the events' objects (and `quiet` ones, which are not announced) in one
        transaction, then publish the events in order."""
        await self.writer.apply([*quiet, *events])
        await self.publish(run_id, *events)

    async def publish(self, run_id: str, *events: tuple[str, Any]) -> None:
        """Publish events whose objects are already stored."""
        await announce.publish(self.bus, run_id, events)
