"""The reconciler: Redis holds nothing that cannot be rebuilt. On a timer, one worker at a
time compares the runs PostgreSQL says are unfinished with what Redis knows of them, and
submits again each run that no worker holds and none is about to take: the runs of a worker
that died (its lease lapsed), and every unfinished run after Redis was flushed or restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from sqlalchemy import select

from threadline.cluster.keys import Keys
from threadline.cluster.queue import RedisRunQueue
from threadline.db.engine import Database
from threadline.engine.recovery import UNFINISHED
from threadline.runs.models import Run

log = logging.getLogger("threadline.worker")


async def reconcile(db: Database, redis: Redis, keys: Keys, queue: RedisRunQueue) -> list[str]:
    """Submit the unfinished runs that nobody holds or waits to take; their ids."""
    async with db.read() as session:
        unfinished = list(await session.scalars(select(Run.id).where(Run.status.in_(UNFINISHED))))
    if not unfinished:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for run_id in unfinished:
            pipe.exists(keys.lease(run_id), keys.submitted(run_id))
        known = await pipe.execute()
    orphans = [run_id for run_id, count in zip(unfinished, known, strict=True) if not count]
    for run_id in orphans:
        await queue.submit(run_id)
    return orphans


class Reconciler:
    def __init__(
        self, db: Database, redis: Redis, keys: Keys, queue: RedisRunQueue, every: float
    ) -> None:
        self.db = db
        self.redis = redis
        self.keys = keys
        self.queue = queue
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                # One worker per period does it.
                turn = await self.redis.set(
                    self.keys.reconciler, "1", nx=True, px=int(self.every * 900)
                )
                if turn:
                    orphans = await reconcile(self.db, self.redis, self.keys, self.queue)
                    if orphans:
                        log.info("put back %d unfinished runs: %s", len(orphans), orphans[:10])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciling runs failed")
