"""Server-sent events: a run's events as `event: <name>\\ndata: <json>\\n\\n`, ending with
`event: done` / `data: [DONE]` when the run ends or pauses for tool outputs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

from starlette.responses import StreamingResponse

from threadline import metrics
from threadline.events.bus import Event, Subscription
from threadline.events.names import ENGINE_ONLY, RUN_STREAM_ENDS, EventName

DONE_FRAME = b"event: done\ndata: [DONE]\n\n"
# A comment line alone, with no blank line after it: a blank line would make clients that
# remember the last event id (the official Python SDK) dispatch an empty event.
KEEP_ALIVE_FRAME = b": keep-alive\n"
KEEP_ALIVE_SECONDS = 15.0

T = TypeVar("T")


def encode(event: Event) -> bytes:
    data = (
        event.data if isinstance(event.data, str) else json.dumps(event.data, separators=(",", ":"))
    )
    # The id lets a client re-attach after the last event it saw (`Last-Event-ID`).
    head = f"id: {event.id}\n" if event.id else ""
    return f"{head}event: {event.name}\ndata: {data}\n\n".encode()


async def _with_pauses(subscription: AsyncIterable[T], every: float) -> AsyncIterator[T | None]:
    """The subscription's events, and None whenever `every` seconds pass without one (the
    pending read is kept, never cancelled, so that no event is lost)."""
    events = aiter(subscription)
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(events))
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield None
                continue
            try:
                event = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield event
    finally:
        if pending is not None:
            pending.cancel()


async def run_events(
    subscription: Subscription,
    shape: Callable[[Event], Event] | None = None,
    keep_alive: float = KEEP_ALIVE_SECONDS,
) -> AsyncIterator[bytes]:
    """A run's stream until it ends or pauses. A client that goes away only closes the
    subscription; the run carries on. Events that arrived together go out in one write; a
    quiet stream gets a comment line every `keep_alive` seconds, so that proxies keep it
    open (clients ignore comments)."""
    metrics.SSE_STREAMS.inc()
    try:
        async for first in _with_pauses(subscription, keep_alive):
            if first is None:
                yield KEEP_ALIVE_FRAME
                continue
            frames = []
            for event in (first, *subscription.drain()):
                if event.name == EventName.DONE:
                    yield b"".join(frames) + DONE_FRAME
                    return
                if event.name in ENGINE_ONLY:
                    continue
                frames.append(encode(shape(event) if shape else event))
                if event.name in RUN_STREAM_ENDS:
                    yield b"".join(frames) + DONE_FRAME
                    return
            yield b"".join(frames)
    finally:
        metrics.SSE_STREAMS.dec()
        subscription.close()


async def named_events(
    events: AsyncIterable[tuple[str, Any]], keep_alive: float = KEEP_ALIVE_SECONDS
) -> AsyncIterator[bytes]:
    """Events given as (type, data) pairs, as `event: <type>` and `data: <json>` frames
    (the Responses API's streams, which end without `[DONE]`), with keep-alive comments."""
    metrics.SSE_STREAMS.inc()
    try:
        async for item in _with_pauses(events, keep_alive):
            if item is None:
                yield KEEP_ALIVE_FRAME
                continue
            kind, data = item
            yield f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
    finally:
        metrics.SSE_STREAMS.dec()


def event_stream(frames: AsyncIterator[bytes], headers: dict[str, Any] | None = None):
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
    )
