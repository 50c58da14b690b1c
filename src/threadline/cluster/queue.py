"""The run queue on Redis, as API processes use it: submitting a run adds it to the queue
stream that the workers' consumer group reads; a cancel is announced to every worker (the
one executing the run stops it) and the run is submitted, so that a worker ends it when
none is executing it."""

from __future__ import annotations

from redis.asyncio import Redis

from threadline.cluster.keys import Keys
from threadline.logs import request_id

# The queue stream keeps about this many entries (workers read them within moments).
QUEUE_LENGTH = 100_000


class RedisRunQueue:
    def __init__(self, redis: Redis, keys: Keys, lease_seconds: float) -> None:
        self.redis = redis
        self.keys = keys
        # A submitted run is not the reconciler's to put back for this long.
        self.pending_ms = int(lease_seconds * 3000)

    async def submit(self, run_id: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.submitted(run_id), "1", px=self.pending_ms)
            # The request that submitted it, so that the worker's log lines carry its id.
            entry = {"run": run_id, "request": request_id.get() or ""}
            pipe.xadd(self.keys.queue, entry, maxlen=QUEUE_LENGTH, approximate=True)
            await pipe.execute()

    async def cancel(self, run_id: str) -> None:
        await self.redis.publish(self.keys.cancel, run_id)
        await self.submit(run_id)

    async def aclose(self) -> None:
        pass
