"""The run queue of one process: each run executes as a task here, at most
`max_concurrency` at once. It implements `runs.channels.RunQueue`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("threadline.engine")

Execute = Callable[[str, Callable[[], bool]], Awaitable[None]]
FinishCancel = Callable[[str], Awaitable[None]]


class InProcessRunQueue:
    def __init__(
        self, execute: Execute, finish_cancel: FinishCancel, max_concurrency: int = 256
    ) -> None:
        self._execute = execute
        self._finish_cancel = finish_cancel
        self._slots = asyncio.Semaphore(max_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._cancel_requested: set[str] = set()

    async def submit(self, run_id: str) -> None:
        self.submit_now(run_id)

    def submit_now(self, run_id: str) -> None:
        task = self._tasks.get(run_id)
        if task is not None and not task.done():
            self._again.add(run_id)  # run it once more when the current pass ends
            return
        self._tasks[run_id] = asyncio.create_task(self._work(run_id), name=f"run {run_id}")

    async def cancel(self, run_id: str) -> None:
        task = self._tasks.get(run_id)
        if task is None or task.done():
            self.submit_now(run_id)
            return
        self._cancel_requested.add(run_id)
        task.cancel()

    async def _work(self, run_id: str) -> None:
        try:
            while True:
                async with self._slots:
                    await self._execute(run_id, lambda: run_id in self._cancel_requested)
                if run_id not in self._again:
                    return
                self._again.discard(run_id)
        except asyncio.CancelledError:
            if run_id not in self._cancel_requested:
                raise
            # Cancelled before the executor had the run in hand.
            await self._finish_cancel(run_id)
        except Exception:
            log.exception("run %s: executor failed", run_id)
        finally:
            self._cancel_requested.discard(run_id)
            if self._tasks.get(run_id) is asyncio.current_task():
                del self._tasks[run_id]

    async def aclose(self) -> None:
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
