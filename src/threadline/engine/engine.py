"""The engine as a process holds it: the executor, its in-process run queue, and the
background upkeep (recovery at start, expiry of runs waiting too long), started and stopped
with the application. With workers apart (`cluster/`), a worker's `RunWorker` feeds the
executor from Redis instead of the in-process queue, and nothing is recovered at start."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select

from threadline.backends.registry import ModelRegistry
from threadline.db.engine import Database
from threadline.engine.emitter import Emitter
from threadline.engine.local_queue import InProcessRunQueue
from threadline.engine.loop import RunExecutor, TokenCounter
from threadline.engine.model_call import RetrySettings
from threadline.engine.reader import RunReader
from threadline.engine.recovery import recover
from threadline.engine.writer import EventWriter
from threadline.events.bus import EventBus, InProcessBus
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.runs import service as runs
from threadline.runs.channels import RunChannels
from threadline.tools.registry import ToolRegistry

log = logging.getLogger("threadline.engine")

EXPIRY_SWEEP_SECONDS = 1.0
MAX_IMAGE_BYTES = 20 * 1024 * 1024


class Engine:
    def __init__(
        self,
        db: Database,
        storage: FileStorage,
        models: ModelRegistry,
        tools: ToolRegistry,
        settings: RetrySettings | None = None,
        max_concurrency: int = 256,
        bus: EventBus | None = None,
        token_counter: TokenCounter | None = None,
        sweep_seconds: float = EXPIRY_SWEEP_SECONDS,
        max_image_bytes: int = MAX_IMAGE_BYTES,
    ) -> None:
        self.sweep_seconds = sweep_seconds
        self.max_image_bytes = max_image_bytes
        self.db = db
        self.storage = storage
        self.models = models
        self.tools = tools
        self.bus = bus or InProcessBus()
        self.reader = RunReader(db, [tool.type for tool in tools])
        self.emitter = Emitter(EventWriter(db), self.bus)
        self.executor = RunExecutor(
            self.reader, self.emitter, models, tools, self.read_image, settings, token_counter
        )
        self.queue = InProcessRunQueue(
            self.executor.execute, self.executor.finish_cancel, max_concurrency
        )
        # What the runs service talks to.
        self.channels = RunChannels(self.bus, self.queue)
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self, recover_unfinished: bool = True) -> None:
        """Start the upkeep; in one process, first carry on the runs a stop left
        unfinished."""
        if recover_unfinished:
            recovered = await recover(self.db, self.reader, self.emitter, self.queue)
            if recovered:
                log.info("picked up %d unfinished runs", recovered)
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self.queue.aclose()
        await self.tools.aclose()
        await self.models.aclose()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await runs.expire_overdue(self.db, self.bus)
            except Exception:
                log.exception("expiring runs failed")

    async def read_image(self, file_id: str) -> tuple[bytes, str] | None:
        return await read_file(self.db, self.storage, self.max_image_bytes, file_id)


async def read_file(
    db: Database, storage: FileStorage, max_bytes: int, file_id: str
) -> tuple[bytes, str] | None:
    """A file's bytes and name for a prompt (an image, a file to read); None when it is gone
    or larger than `max_bytes`."""
    async with db.read() as session:
        row = await session.scalar(select(File).where(File.id == file_id))
    path = storage.path(file_id)
    if row is None or not path.exists() or row.bytes > max_bytes:
        return None
    return await asyncio.to_thread(path.read_bytes), row.filename
