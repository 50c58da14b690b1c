"""A worker's side of the run queue: it takes runs from the queue stream (a consumer group,
so each entry goes to one worker), executes each under a lease it keeps alive, and stops a
run when a cancel for it is announced.

A run whose worker died is picked up again once its lease lapses: the reconciler submits it
anew and the worker that takes it settles what was left open (`engine/recovery.py`) before
carrying it on from PostgreSQL's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from threadline.cluster.keys import WORKERS_GROUP, Keys
from threadline.cluster.leases import Lease
from threadline.engine.engine import Engine
from threadline.engine.recovery import recover_run
from threadline.logs import request_id

log = logging.getLogger("threadline.worker")

# How long one read of the queue waits for a run.
BLOCK_MS = 2_000
# A stopping worker lets the runs in flight finish this long before it stops them (another
# worker then takes them over, which counts as an interruption).
DRAIN_SECONDS = 20.0


class RunWorker:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        engine: Engine,
        lease_seconds: float,
        max_concurrency: int,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        self.drain_seconds = drain_seconds
        self.redis = redis
        self.keys = keys
        self.engine = engine
        self.lease_seconds = lease_seconds
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._slots = asyncio.Semaphore(max_concurrency)
        self._runs: dict[str, tuple[asyncio.Task[None], Lease]] = {}
        self._held: set[str] = set()  # runs whose lease this worker holds
        self._again: set[str] = set()
        self._cancel_requested: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.executed = 0  # passes over runs, for the health endpoint

    async def _create_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.keys.queue, WORKERS_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def start(self) -> None:
        await self._create_group()
        self._tasks = [
            asyncio.create_task(self._consume(), name="run queue"),
            asyncio.create_task(self._listen_for_cancels(), name="cancels"),
            asyncio.create_task(self._keep_leases(), name="leases"),
        ]

    async def stop(self) -> None:
        """Stop taking runs, let the runs in flight finish for a while, then stop them too
        (their leases lapse, and another worker carries them on)."""
        if self._tasks:
            self._tasks[0].cancel()  # the queue first: take nothing new
        running = [task for task, _ in self._runs.values()]
        if running:
            await asyncio.wait(running, timeout=self.drain_seconds)
        for task in [*self._tasks, *running]:
            task.cancel()
        for task in [*self._tasks, *running]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):  # no consumer of a gone worker stays listed
            await self.redis.xgroup_delconsumer(self.keys.queue, WORKERS_GROUP, self.name)

    # -- taking runs ------------------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            await self._slots.acquire()  # read only what this worker can start now
            taken = False
            try:
                found = await self.redis.xreadgroup(
                    WORKERS_GROUP, self.name, {self.keys.queue: ">"}, count=1, block=BLOCK_MS
                )
                for _key, entries in found or []:
                    for entry_id, fields in entries:
                        await self.redis.xack(self.keys.queue, WORKERS_GROUP, entry_id)
                        taken = self._take(fields["run"], fields.get("request") or None)
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    log.exception("reading the run queue failed")
                    await asyncio.sleep(1.0)
                else:  # Redis lost the queue (flushed, or restarted empty): make it again
                    with contextlib.suppress(Exception):
                        await self._create_group()
            except Exception:
                log.exception("reading the run queue failed")
                await asyncio.sleep(1.0)
            if not taken:
                self._slots.release()

    def _take(self, run_id: str, request: str | None = None) -> bool:
        """Start executing a run here; False when it is executing here already (it runs
        again once this pass ends) and the slot is not used."""
        if run_id in self._runs:
            self._again.add(run_id)
            return False
        lease = Lease(self.redis, self.keys.lease(run_id), self.lease_seconds, self.name)
        # The task starts with a copy of this context: the run's lines carry the request id.
        token = request_id.set(request)
        try:
            task = asyncio.create_task(self._run(run_id, lease), name=f"run {run_id}")
        finally:
            request_id.reset(token)
        self._runs[run_id] = (task, lease)
        return True

    async def _run(self, run_id: str, lease: Lease) -> None:
        try:
            if not await self._wait_for_lease(lease):
                return  # another worker has it, alive: it executes the run
            self._held.add(run_id)
            # Taken: should this worker die now, the reconciler puts the run back as soon
            # as the lease lapses.
            await self.redis.delete(self.keys.submitted(run_id))
            while True:
                self.executed += 1
                await self._execute(run_id)
                if run_id not in self._again:
                    return
                self._again.discard(run_id)
        except asyncio.CancelledError:
            if run_id in self._cancel_requested:
                # Stopped before the executor had the run in hand.
                await self.engine.executor.finish_cancel(run_id)
        except Exception:
            log.exception("run %s: executing failed", run_id)
        finally:
            self._held.discard(run_id)
            self._runs.pop(run_id, None)
            self._cancel_requested.discard(run_id)
            self._slots.release()
            await lease.release()

    async def _wait_for_lease(self, lease: Lease) -> bool:
        """The lease, once the worker before (finishing a pass, or dead) lets it go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease_seconds * 1.5
        while not await lease.take():
            if loop.time() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True

    async def _execute(self, run_id: str) -> None:
        engine = self.engine
        run = await engine.reader.load_run(run_id)
        if run is None:
            return
        if run.status == "in_progress":
            # Its worker stopped mid-run (its lease lapsed): settle what was left open.
            log.info("run %s: taking over an interrupted run", run_id)
            if not await recover_run(engine.db, engine.reader, engine.emitter, run):
                return
        await engine.executor.execute(run_id, lambda: run_id in self._cancel_requested)

    # -- cancels and leases -----------------------------------------------------------------

    async def _listen_for_cancels(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.keys.cancel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._cancel(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("listening for cancels failed")
                await asyncio.sleep(0.5)

    def _cancel(self, run_id: str) -> None:
        found = self._runs.get(run_id)
        if found is not None:
            self._cancel_requested.add(run_id)
            found[0].cancel()

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            for run_id in list(self._held):
                task, lease = self._runs[run_id]
                try:
                    kept = await lease.keep()
                except Exception:
                    log.exception("renewing the lease of run %s failed", run_id)
                    continue
                if not kept:
                    # Another worker took the run over: this one must not write for it.
                    log.warning("run %s: lease lost to another worker; stopping here", run_id)
                    task.cancel()
