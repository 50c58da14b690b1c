"""How the API sets stored runs going and hears of them.

Two small interfaces the runs service talks to: the event bus (`threadline.events.bus`) that
carries a run's events to streams, and the run queue that hands runs to whoever executes
them. The engine implements the queue (`engine/local_queue.py`, tasks of this process);
`cluster/` implements both on Redis for API processes and workers apart; the app wires
them together at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from threadline.events.bus import EventBus


class RunQueue(Protocol):
    async def submit(self, run_id: str) -> None:
        """Have the run executed (it is `queued`, or `cancelling` and needs ending)."""
        ...

    async def cancel(self, run_id: str) -> None:
        """The run is now `cancelling`: stop its work in flight, wherever it runs, and end
        it."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class RunChannels:
    bus: EventBus
    queue: RunQueue
