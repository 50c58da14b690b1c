"""The engine as the server holds it: store, bus, dispatcher, executor and the background
upkeep, started and stopped with the application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import select

from threadline.backends.registry import ModelRegistry
from threadline.db.engine import Database
from threadline.engine import upkeep
from threadline.engine.dispatch import InProcessDispatcher
from threadline.engine.emitter import Emitter
from threadline.engine.events import EventBus, InProcessBus, Subscription
from threadline.engine.executor import ExecutorSettings, RunExecutor
from threadline.engine.store import RunStore
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.runs.models import Run
from threadline.tools.code_interpreter.tool import CodeInterpreter
from threadline.tools.file_search import FileSearch

log = logging.getLogger("threadline.engine")

EXPIRY_SWEEP_SECONDS = 1.0
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class Engine:
    def __init__(
        self,
        db: Database,
        storage: FileStorage,
        registry: ModelRegistry,
        file_searcher: FileSearch,
        interpreter: CodeInterpreter,
        settings: ExecutorSettings | None = None,
        max_concurrency: int = 256,
        bus: EventBus | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.registry = registry
        self.bus = bus or InProcessBus()
        self.store = RunStore(db)
        self.emitter = Emitter(self.store, self.bus)
        self.executor = RunExecutor(
            self.store,
            self.emitter,
            registry,
            self.read_image,
            file_searcher,
            interpreter,
            settings,
        )
        self.interpreter = interpreter
        self.dispatcher = InProcessDispatcher(
            self.executor.execute, self.executor.finish_cancel, max_concurrency
        )
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        recovered = await upkeep.recover(self.db, self.emitter, self.dispatcher)
        if recovered:
            log.info("picked up %d unfinished runs", recovered)
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.dispatcher.aclose()
        await self.interpreter.sessions.aclose()
        await self.registry.aclose()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_SECONDS)
            try:
                await upkeep.expire_overdue(self.db, self.emitter)
            except Exception:
                log.exception("expiring runs failed")

    # -- what the runs service asks of the engine ------------------------------------------

    def subscribe(self, run_id: str) -> Subscription:
        return self.bus.subscribe(run_id)

    async def announce(self, run: Run, *events: tuple[str, Any]) -> None:
        """Publish events of objects the service has already stored."""
        await self.emitter.publish(run.id, *events)

    def dispatch(self, run_id: str) -> None:
        self.dispatcher.submit(run_id)

    def cancel(self, run_id: str) -> None:
        self.dispatcher.cancel(run_id)

    async def read_image(self, file_id: str) -> tuple[bytes, str] | None:
        async with self.db.read() as session:
            row = await session.scalar(select(File).where(File.id == file_id))
        path = self.storage.path(file_id)
        if row is None or not path.exists() or row.bytes > MAX_IMAGE_BYTES:
            return None
        return await asyncio.to_thread(path.read_bytes), row.filename
