"""File ingestion with several workers: one ingests a file at a time (a lease per file), and
files added through any API process wake every worker at once (a Redis message; each
worker's periodic scan finds them otherwise)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis

from threadline.cluster.keys import Keys
from threadline.cluster.leases import Lease
from threadline.vector_stores.ingestion import worker as ingestion

log = logging.getLogger("threadline.ingestion")

# Long enough for a large file; a worker that dies holds its files back this long at most.
CLAIM_SECONDS = 1800.0


class RedisFileClaims:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._held: dict[tuple[str, str], Lease] = {}

    async def take(self, store_id: str, file_id: str) -> bool:
        lease = Lease(self.redis, self.keys.file_claim(store_id, file_id), CLAIM_SECONDS)
        if not await lease.take():
            return False
        self._held[(store_id, file_id)] = lease
        return True

    async def release(self, store_id: str, file_id: str) -> None:
        lease = self._held.pop((store_id, file_id), None)
        if lease is not None:
            await lease.release()


def announce_new_files(redis: Redis, keys: Keys) -> Callable[[], None]:
    """From now on, `ingestion.wake()` in this process also tells the workers elsewhere;
    returns what stops it."""

    def waker() -> None:
        task = asyncio.get_running_loop().create_task(redis.publish(keys.ingest, "1"))
        task.add_done_callback(_log_failure)

    return ingestion.add_waker(waker)


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("telling workers of new files failed: %s", task.exception())


async def listen_for_new_files(redis: Redis, keys: Keys) -> None:
    """Wake this process's ingestion workers whenever an API process added files."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(keys.ingest)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        ingestion.wake_local()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("listening for new files failed")
            await asyncio.sleep(0.5)
