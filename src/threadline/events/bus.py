"""The bus that carries a run's events to whoever streams them.

The bus is an interface: `InProcessBus` serves one process. Today it is the only one; the
engine publishes on it and the API's streams subscribe to it.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """`name` is an `EventName`; `data` is the event's wire object (a dict), or `"[DONE]"`."""

    name: str
    data: Any


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...

    def drain(self) -> list[Event]:
        """The events that have arrived and not been read yet, without waiting."""
        ...

    def close(self) -> None: ...


class EventBus(Protocol):
    def subscribe(self, run_id: str) -> Subscription:
        """Events of one run from now on. Subscribe before the run can emit."""
        ...

    async def publish(self, run_id: str, event: Event) -> None: ...


class _QueueSubscription:
    def __init__(self, bus: InProcessBus, run_id: str) -> None:
        self._bus = bus
        self._run_id = run_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def drain(self) -> list[Event]:
        events = []
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    def close(self) -> None:
        self._bus._remove(self._run_id, self)


class InProcessBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[_QueueSubscription]] = defaultdict(set)

    def subscribe(self, run_id: str) -> Subscription:
        subscription = _QueueSubscription(self, run_id)
        self._subscribers[run_id].add(subscription)
        return subscription

    async def publish(self, run_id: str, event: Event) -> None:
        for subscription in self._subscribers.get(run_id, ()):
            subscription.queue.put_nowait(event)

    def _remove(self, run_id: str, subscription: _QueueSubscription) -> None:
        subscribers = self._subscribers.get(run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[run_id]
