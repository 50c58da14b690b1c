"""Publishing a run's events onto the bus, in the engine's own form.

Events are `(name, object)` pairs, the object a row (run, step, message, thread) or a
delta as the recorder makes it (`engine/recorder.py`). On the bus a row is its columns, by
attribute name: no API's wire form. Each API serializes the events it streams
(`runs/wire_events.py` for the Assistants API, `responses/stream.py` for the Responses
API). Whoever publishes has stored the row first.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from sqlalchemy import inspect

from threadline.events.bus import Event, EventBus
from threadline.events.names import STORED_ONLY
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message, Thread

Announcement = tuple[str, Any]

_ROWS = (Run, RunStep, Message, Thread)


def record(obj: Any) -> Any:
    """An event's object as the bus carries it: a row's columns (a copy: the row changes
    on), or the delta as it is."""
    if not isinstance(obj, _ROWS):
        return obj
    return copy.deepcopy(
        {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}
    )


async def publish(bus: EventBus, run_id: str, events: Iterable[Announcement]) -> None:
    """Publish events whose objects are already stored, in order (stored-only changes are
    left out)."""
    for name, obj in events:
        if name in STORED_ONLY:
            continue
        await bus.publish(run_id, Event(name, record(obj)))
