"""The event bus on Redis: each run's events are a stream (`XADD`), bounded in length and
expiring a while after its last event, so that any API process streams the runs any worker
executes, in order, from any event on."""

from __future__ import annotations

import asyncio
import json
import re

from redis.asyncio import Redis
from redis.exceptions import RedisError

from threadline.cluster.keys import Keys
from threadline.events.bus import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_RETAIN_SECONDS,
    FROM_START,
    Event,
    InvalidEventId,
    QueueSubscription,
    Subscription,
)

_STREAM_ID = re.compile(r"^\d+-\d+$")
# How long one read waits for new events before asking again.
BLOCK_MS = 10_000
# Reads that fail in a row (Redis away) before the stream gives up.
READ_ATTEMPTS = 20


class RedisBus:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        retain_seconds: float = DEFAULT_RETAIN_SECONDS,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.retain_seconds = int(retain_seconds)
        self.max_events = max_events

    async def publish(self, run_id: str, event: Event) -> None:
        key = self.keys.events(run_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(
                key,
                {"name": str(event.name), "data": json.dumps(event.data, separators=(",", ":"))},
                maxlen=self.max_events,
                approximate=True,
            )
            pipe.expire(key, self.retain_seconds)
            await pipe.execute()

    async def subscribe(self, run_id: str, after: str | None = None) -> Subscription:
        key = self.keys.events(run_id)
        if after is None:
            # From now on: after the last event there is.
            last = await self.redis.xrevrange(key, count=1)
            start = last[0][0] if last else "0-0"
        elif after == FROM_START:
            start = "0-0"
        elif _STREAM_ID.match(after):
            start = after
        else:
            raise InvalidEventId(after)
        subscription = RedisSubscription(self.redis, key, start)
        # What the stream holds already is at hand at once (a reader can tell what is there).
        held = await self.redis.xrange(key, min=f"({start}", max="+")
        subscription.receive(held)
        subscription.start()
        return subscription

    async def aclose(self) -> None:
        pass


class RedisSubscription(QueueSubscription):
    """Entries of one run's stream after `start`, read by a task of its own."""

    def __init__(self, redis: Redis, key: str, start: str) -> None:
        super().__init__()
        self.redis = redis
        self.key = key
        self.last = start
        self._task: asyncio.Task[None] | None = None

    def receive(self, entries: list) -> None:
        for entry_id, fields in entries:
            self.last = entry_id
            self.queue.put_nowait(Event(fields["name"], json.loads(fields["data"]), entry_id))

    def start(self) -> None:
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        failures = 0
        while True:
            try:
                found = await self.redis.xread({self.key: self.last}, count=1000, block=BLOCK_MS)
                failures = 0
            except asyncio.CancelledError:
                raise
            except RedisError as error:
                # Redis restarting: read on from the last event once it is back.
                failures += 1
                if failures > READ_ATTEMPTS:
                    self.queue.put_nowait(error)  # the stream's reader learns of it
                    return
                await asyncio.sleep(min(1.0, 0.05 * 2**failures))
                continue
            for _key, entries in found or []:
                self.receive(entries)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
