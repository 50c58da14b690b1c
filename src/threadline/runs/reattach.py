"""Re-attaching to a run's event stream: a Threadline extension.

`GET /v1/threads/{thread_id}/runs/{run_id}/events` answers a run's events as a streamed
create does, from the first event the bus still holds (or after the event a client last saw,
`Last-Event-ID` or `?after=`), live until the run pauses or ends. A client whose connection
(or API process) went away reads on where it stopped, without gaps or repeats.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from threadline.db.engine import Database
from threadline.errors import invalid
from threadline.events.bus import FROM_START, Event, InvalidEventId, Subscription
from threadline.events.names import RUN_STREAM_ENDS, EventName, run_event
from threadline.runs import announce
from threadline.runs.channels import RunChannels
from threadline.runs.lifecycle import STREAM_ENDING_STATUSES
from threadline.runs.service import get_run


class Replay:
    """Events already at hand, then the live subscription's."""

    def __init__(self, subscription: Subscription, first: list[Event]) -> None:
        self._subscription = subscription
        self._first = first

    async def __aiter__(self) -> AsyncIterator[Event]:
        while self._first:
            yield self._first.pop(0)
        async for event in self._subscription:
            yield event

    def drain(self) -> list[Event]:
        events, self._first = self._first, []
        return events + self._subscription.drain()

    def close(self) -> None:
        self._subscription.close()


async def attach(
    db: Database,
    channels: RunChannels,
    project_id: str,
    thread_id: str,
    run_id: str,
    after: str | None,
) -> Subscription:
    """The run's stream from the start or after the event `after`. A run that has ended (or
    paused) and whose end the bus no longer holds ends the stream with its current status:
    the whole run's when read from the start; nothing more when read after an event."""
    async with db.read() as session:
        run = await get_run(session, project_id, thread_id, run_id)
    try:
        subscription = await channels.bus.subscribe(run_id, after or FROM_START)
    except InvalidEventId:
        raise invalid(
            f"Invalid 'after': '{after}' is not an event id of run {run_id}.", param="after"
        ) from None
    held = subscription.drain()
    if run.status in STREAM_ENDING_STATUSES and not any(e.name in RUN_STREAM_ENDS for e in held):
        if after:
            held.append(Event(EventName.DONE, "[DONE]"))
        else:
            held.append(Event(run_event(run.status), announce.record(run)))
    return Replay(subscription, held)
