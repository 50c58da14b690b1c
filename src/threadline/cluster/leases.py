"""Leases: which worker executes a run (or ingests a file) now. A lease is a Redis lock
with a time to live (redis-py's `Lock`), kept alive by its holder; a holder that dies lets
it lapse, and another worker may take the work over."""

from __future__ import annotations

import contextlib
import uuid

from redis.asyncio import Redis
from redis.exceptions import LockError, LockNotOwnedError


class Lease:
    def __init__(self, redis: Redis, name: str, seconds: float, holder: str = "") -> None:
        self.name = name
        self._lock = redis.lock(name, timeout=seconds, blocking=False, thread_local=False)
        # Says who holds it, for an operator reading Redis (and unique, as a lock's token).
        self._token = f"{holder}/{uuid.uuid4().hex}"

    async def take(self) -> bool:
        return bool(await self._lock.acquire(token=self._token))

    async def keep(self) -> bool:
        """Renew the lease; False when another holder has it now. A lease that is simply
        gone (Redis restarted or was flushed) is taken again."""
        try:
            await self._lock.reacquire()
            return True
        except LockNotOwnedError:
            return await self.take()

    async def release(self) -> None:
        # Lapsed, or taken over: then there is nothing of ours to release.
        with contextlib.suppress(LockError):
            await self._lock.release()
