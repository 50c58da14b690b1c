"""Files leaving `in_progress`: the news a search of a store still ingesting waits for.

Ingestion calls `announce()` each time it is done with a file (ingested, failed, or given up
because it left the store). Waiting searches of this process hear it through `listening()`;
in distributed mode a relay (`cluster/ingestion.py`) also tells the other processes, whose
searches hear it from there. A searcher re-reads the store's files when told, and now and
then regardless, for files that leave in other ways (a cancelled batch, a removed file).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# The events of the searches of this process that are waiting now.
_listeners: set[asyncio.Event] = set()
# What also tells other processes (distributed mode).
_relays: list[Callable[[], None]] = []


def announce() -> None:
    """A file left `in_progress` (call it after the commit that says so)."""
    announce_local()
    for relay in _relays:
        relay()


def announce_local() -> None:
    """A file left `in_progress`: the waiting searches of this process look again."""
    for listener in _listeners:
        listener.set()


def add_relay(relay: Callable[[], None]) -> Callable[[], None]:
    """Have `announce()` also call `relay`; returns what removes it."""
    _relays.append(relay)
    return lambda: _relays.remove(relay)


@contextmanager
def listening() -> Iterator[asyncio.Event]:
    """An event set at each announcement while the block runs (clear it before each look,
    so that news arriving during the look is not missed)."""
    event = asyncio.Event()
    _listeners.add(event)
    try:
        yield event
    finally:
        _listeners.discard(event)
