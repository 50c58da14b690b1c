"""File ingestion with several workers: one ingests a file at a time (a lease per file),
files added through any API process wake every worker at once (a Redis message; each
worker's periodic scan finds them otherwise), and a file done in one worker wakes the
searches waiting for it in every other (another Redis message)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from redis.asyncio import Redis

from threadline.cluster.keys import Keys
from threadline.cluster.leases import Lease
from threadline.vector_stores.ingestion import settled
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

    return ingestion.add_waker(_publisher(redis, keys.ingest))


def announce_settled_files(redis: Redis, keys: Keys) -> Callable[[], None]:
    """From now on, `settled.announce()` in this process also tells the searches elsewhere;
    returns what stops it."""
    return settled.add_relay(_publisher(redis, keys.ingested))


def _publisher(redis: Redis, channel: str) -> Callable[[], None]:
    def publish() -> None:
        task = asyncio.get_running_loop().create_task(redis.publish(channel, "1"))
        task.add_done_callback(_log_failure)

    return publish


def _log_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("telling other processes about files failed: %s", task.exception())


async def listen_for_files(redis: Redis, keys: Keys) -> None:
    """Wake this process's ingestion workers whenever an API process added files, and its
    waiting searches whenever a file was done elsewhere."""
    while True:
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(keys.ingest, keys.ingested)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    if _text(message.get("channel")) == keys.ingested:
                        settled.announce_local()
                    else:
                        ingestion.wake_local()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("listening for new files failed")
            await asyncio.sleep(0.5)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""
