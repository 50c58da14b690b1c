"""The bus that carries a run's events to whoever streams them.

The bus is an interface with two implementations: `InProcessBus` here, for one process, and
`RedisBus` (`cluster/bus.py`), a Redis stream per run, so that any API process streams the
runs any worker executes. Both number each run's events (the SSE `id:`) and keep them a
while after the last one, so that a client can re-attach to a run's stream and read it
from the start or from the last event it saw.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any, Protocol

# `subscribe(after=FROM_START)`: every event the bus still holds for the run.
FROM_START = "0"
DEFAULT_RETAIN_SECONDS = 3600.0
DEFAULT_MAX_EVENTS = 20_000


@dataclass(frozen=True, slots=True)
class Event:
    """`name` is an `EventName`; `data` is the event's wire object (a dict); `id` is the
    event's place in its run's stream, given by the bus."""

    name: str
    data: Any
    id: str | None = None


class InvalidEventId(ValueError):
    """An `after` that is no event id of this bus."""


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...

    def drain(self) -> list[Event]:
        """The events that have arrived and not been read yet, without waiting."""
        ...

    def close(self) -> None: ...


class EventBus(Protocol):
    async def subscribe(self, run_id: str, after: str | None = None) -> Subscription:
        """Events of one run: those published from now on (`after` None; subscribe before
        the run can emit), or those after the event `after` (`FROM_START`: every one the
        bus still holds), then the live ones."""
        ...

    async def publish(self, run_id: str, event: Event) -> None: ...

    async def aclose(self) -> None: ...


class QueueSubscription:
    """A subscription fed through an asyncio queue (by the bus, or by a reader task)."""

    def __init__(self, on_close: Any = None) -> None:
        self.queue: asyncio.Queue[Event | BaseException] = asyncio.Queue()
        self._on_close = on_close

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            item = await self.queue.get()
            if isinstance(item, BaseException):
                raise item
            yield item

    def drain(self) -> list[Event]:
        events = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, BaseException):
                self.queue.put_nowait(item)  # raised by the next read
                break
            events.append(item)
        return events

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close(self)


@dataclass
class _RunLog:
    events: deque[Event]
    count: int = 0
    touched: float = 0.0


class InProcessBus:
    def __init__(
        self,
        retain_seconds: float = DEFAULT_RETAIN_SECONDS,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self._subscribers: dict[str, set[QueueSubscription]] = {}
        # Runs' recent events, least recently published first.
        self._logs: OrderedDict[str, _RunLog] = OrderedDict()
        self._retain = retain_seconds
        self._max_events = max_events

    async def subscribe(self, run_id: str, after: str | None = None) -> Subscription:
        subscription = QueueSubscription(lambda sub: self._remove(run_id, sub))
        if after is not None:
            if not after.isdigit():
                raise InvalidEventId(after)
            log = self._logs.get(run_id)
            for event in log.events if log else ():
                if int(event.id or 0) > int(after):
                    subscription.queue.put_nowait(event)
        self._subscribers.setdefault(run_id, set()).add(subscription)
        return subscription

    async def publish(self, run_id: str, event: Event) -> None:
        now = time.monotonic()
        log = self._logs.get(run_id)
        if log is None:
            log = self._logs[run_id] = _RunLog(deque(maxlen=self._max_events))
        else:
            self._logs.move_to_end(run_id)
        log.count += 1
        log.touched = now
        event = replace(event, id=str(log.count))
        log.events.append(event)
        for subscription in self._subscribers.get(run_id, ()):
            subscription.queue.put_nowait(event)
        self._forget_older_than(now - self._retain)

    def _forget_older_than(self, moment: float) -> None:
        while self._logs:
            run_id, log = next(iter(self._logs.items()))
            if log.touched > moment:
                return
            del self._logs[run_id]

    def _remove(self, run_id: str, subscription: QueueSubscription) -> None:
        subscribers = self._subscribers.get(run_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[run_id]

    async def aclose(self) -> None:
        self._subscribers.clear()
