"""Server-sent events: a run's events as `event: <name>\\ndata: <json>\\n\\n`, ending with
`event: done` / `data: [DONE]` when the run ends or pauses for tool outputs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import StreamingResponse

from threadline import metrics
from threadline.events.bus import Event, Subscription
from threadline.events.names import RUN_STREAM_ENDS, EventName

DONE_FRAME = b"event: done\ndata: [DONE]\n\n"


def encode(event: Event) -> bytes:
    data = (
        event.data if isinstance(event.data, str) else json.dumps(event.data, separators=(",", ":"))
    )
    # The id lets a client re-attach after the last event it saw (`Last-Event-ID`).
    head = f"id: {event.id}\n" if event.id else ""
    return f"{head}event: {event.name}\ndata: {data}\n\n".encode()


async def run_events(
    subscription: Subscription, shape: Callable[[Event], Event] | None = None
) -> AsyncIterator[bytes]:
    """A run's stream until it ends or pauses. A client that goes away only closes the
    subscription; the run carries on. Events that arrived together go out in one write."""
    metrics.SSE_STREAMS.inc()
    try:
        async for first in subscription:
            frames = []
            for event in (first, *subscription.drain()):
                if event.name == EventName.DONE:
                    yield b"".join(frames) + DONE_FRAME
                    return
                frames.append(encode(shape(event) if shape else event))
                if event.name in RUN_STREAM_ENDS:
                    yield b"".join(frames) + DONE_FRAME
                    return
            yield b"".join(frames)
    finally:
        metrics.SSE_STREAMS.dec()
        subscription.close()


def event_stream(frames: AsyncIterator[bytes], headers: dict[str, Any] | None = None):
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **(headers or {})},
    )
