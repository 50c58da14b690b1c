"""Background ingestion: parse, chunk, embed and index each file added to a store.

Requests only record files as `in_progress` and hand them here; nothing blocks a request.
A file that cannot be parsed fails alone, with a `last_error` that says why. The final
write is guarded on the file still being `in_progress`, so a cancelled batch or a removed
file keeps none of the chunks made for it. On start, files left `in_progress` by a stop are
taken up again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select, update

from threadline import metrics
from threadline.backends.base import BackendError
from threadline.backends.embedder_choice import Embedders
from threadline.db.engine import Database
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.vector_stores.index import ChunkIndex
from threadline.vector_stores.ingestion import settled
from threadline.vector_stores.ingestion.chunk import chunk_text
from threadline.vector_stores.ingestion.parse import ParseError, extract_text
from threadline.vector_stores.models import Chunk, VectorStore, VectorStoreFile

log = logging.getLogger("threadline.ingestion")

# Workers of this process; `wake()` tells them that files are waiting.
_workers: set[IngestionWorker] = set()
# And how to tell workers of other processes (distributed mode: a Redis message).
_wakers: list[Callable[[], None]] = []
# Other processes may add files too: look for waiting files this often regardless.
SCAN_SECONDS = 2.0
# Chunks embedded at a time; a cancel is noticed between batches.
EMBED_BATCH = 8


def wake() -> None:
    """Files were added to a store (call it after the commit that added them)."""
    wake_local()
    for waker in _wakers:
        waker()


def wake_local() -> None:
    """Files are waiting: the workers of this process look now."""
    for worker in _workers:
        worker.wakeup.set()


def add_waker(waker: Callable[[], None]) -> Callable[[], None]:
    """Have `wake()` also call `waker`; returns what removes it."""
    _wakers.append(waker)
    return lambda: _wakers.remove(waker)


class FileClaims(Protocol):
    """Which worker ingests a file, where several processes could (distributed mode)."""

    async def take(self, store_id: str, file_id: str) -> bool: ...

    async def release(self, store_id: str, file_id: str) -> None: ...


class Superseded(Exception):
    """The file left `in_progress` while it was being ingested."""


class EmbedderChanged(Exception):
    """The store's first file came in with another embedder while this one was embedded."""


class IngestionWorker:
    def __init__(
        self,
        db: Database,
        storage: FileStorage,
        index: ChunkIndex,
        embedders: Embedders,
        workers: int = 1,
        claims: FileClaims | None = None,
        scan_seconds: float = SCAN_SECONDS,
    ) -> None:
        self.scan_seconds = scan_seconds
        self.db = db
        self.storage = storage
        self.index = index
        self.embedders = embedders
        self.workers = workers
        self.claims = claims
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._queued: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.wakeup = asyncio.Event()

    async def start(self) -> None:
        _workers.add(self)
        self.wakeup.set()  # files left in progress by a stop are taken up again
        self._tasks = [asyncio.create_task(self._scan())]
        self._tasks += [asyncio.create_task(self._work()) for _ in range(self.workers)]

    async def stop(self) -> None:
        _workers.discard(self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _scan(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), self.scan_seconds)
            self.wakeup.clear()
            try:
                async with self.db.read() as session:
                    waiting = (
                        await session.execute(
                            select(VectorStoreFile.vector_store_id, VectorStoreFile.id)
                            .where(VectorStoreFile.status == "in_progress")
                            .order_by(VectorStoreFile.created_at)
                        )
                    ).all()
            except Exception:
                log.exception("looking for files to ingest failed")
                continue
            metrics.INGESTION_BACKLOG.set(len(waiting))
            for store_id, file_id in waiting:
                if (store_id, file_id) not in self._queued:
                    self._queued.add((store_id, file_id))
                    self._queue.put_nowait((store_id, file_id))

    async def _work(self) -> None:
        while True:
            store_id, file_id = await self._queue.get()
            try:
                if await self._claim(store_id, file_id):
                    await self._ingest_claimed(store_id, file_id)
            finally:
                self._queued.discard((store_id, file_id))

    async def _claim(self, store_id: str, file_id: str) -> bool:
        """Whether this worker ingests the file now (elsewhere another may; a later scan
        tries again)."""
        if self.claims is None:
            return True
        try:
            return await self.claims.take(store_id, file_id)
        except Exception:
            log.exception("claiming %s of %s failed", file_id, store_id)
            return False

    async def _ingest_claimed(self, store_id: str, file_id: str) -> None:
        try:
            await self.ingest(store_id, file_id)
        except Exception:
            log.exception("ingesting %s into %s failed", file_id, store_id)
            await self._fail(store_id, file_id, "server_error", "Ingestion failed.")
        finally:
            if self.claims is not None:
                with contextlib.suppress(Exception):
                    await self.claims.release(store_id, file_id)
            # Searches waiting for this file look again (it may also have been done by now
            # elsewhere, or left the store: a look costs one query).
            settled.announce()

    async def ingest(self, store_id: str, file_id: str) -> None:
        async with self.db.read() as session:
            row = await session.get(VectorStoreFile, (store_id, file_id))
            source = await session.get(File, file_id)
            store = await session.get(VectorStore, store_id)
        if row is None or row.status != "in_progress" or store is None:
            return
        path = self.storage.path(file_id)
        if source is None or not path.exists():
            await self._fail(store_id, file_id, "invalid_file", "The file no longer exists.")
            return
        data = await asyncio.to_thread(path.read_bytes)
        began = time.monotonic()
        try:
            text = await asyncio.to_thread(extract_text, data, source.filename)
        except ParseError as error:
            await self._fail(store_id, file_id, error.code, error.message)
            return
        static = row.chunking_strategy["static"]
        chunks = await asyncio.to_thread(
            chunk_text, text, static["max_chunk_size_tokens"], static["chunk_overlap_tokens"]
        )
        # A store's files all use the embedder of its first one (never mixed vectors).
        embedder_name = store.embedder or self.embedders.default
        embedder = self.embedders.of(embedder_name)
        vectors: list[list[float]] = []
        try:
            for start in range(0, len(chunks), EMBED_BATCH):
                # Between batches, give up on a file that was cancelled or removed.
                if start and not await self._still_wanted(store_id, file_id):
                    return
                batch = chunks[start : start + EMBED_BATCH]
                vectors += await embedder.passages([chunk.text for chunk in batch])
        except BackendError as error:
            await self._fail(store_id, file_id, "server_error", error.message)
            return
        width = len(vectors[0]) if vectors else store.dimensions
        if store.dimensions and width != store.dimensions:
            await self._fail(
                store_id,
                file_id,
                "server_error",
                f"The embedding model now gives {width} dimensions; this store holds "
                f"{store.dimensions}.",
            )
            return
        usage = len(text.encode()) + 4 * sum(len(v) for v in vectors)
        try:
            await self._store(store_id, file_id, chunks, vectors, width, usage, embedder_name)
            metrics.INGESTED.labels("completed").inc()
            log.info(
                "ingested %s into %s: %d bytes, %d chunks in %.2f s",
                file_id,
                store_id,
                len(data),
                len(chunks),
                time.monotonic() - began,
            )
        except Superseded:
            log.info("%s left %s while it was ingested", file_id, store_id)
        except EmbedderChanged:
            # Rolled back; embedded again, with the store's embedder now recorded.
            await self.ingest(store_id, file_id)

    async def _store(
        self,
        store_id: str,
        file_id: str,
        chunks: list[Any],
        vectors: list[list[float]],
        width: int | None,
        usage: int,
        embedder: str,
    ) -> None:
        async with self.db.write() as session:
            done = await session.execute(
                update(VectorStoreFile)
                .where(
                    VectorStoreFile.vector_store_id == store_id,
                    VectorStoreFile.id == file_id,
                    VectorStoreFile.status == "in_progress",
                )
                .values(status="completed", usage_bytes=usage, last_error=None)
            )
            if done.rowcount != 1:
                metrics.INGESTED.labels("superseded").inc()
                raise Superseded  # rolls the transaction back
            rows = [
                Chunk(
                    vector_store_id=store_id,
                    file_id=file_id,
                    position=position,
                    text=chunk.text,
                    tokens=chunk.tokens,
                )
                for position, chunk in enumerate(chunks)
            ]
            session.add_all(rows)
            await session.flush()
            await self.index.insert(
                session,
                store_id,
                [(row.id, row.text, vector) for row, vector in zip(rows, vectors, strict=True)],
            )
            if width:
                await session.execute(
                    update(VectorStore)
                    .where(VectorStore.id == store_id, VectorStore.dimensions.is_(None))
                    .values(dimensions=width, embedder=embedder)
                )
                recorded = await session.scalar(
                    select(VectorStore.embedder).where(VectorStore.id == store_id)
                )
                if recorded not in (embedder, None):
                    # Another process, with another default, embedded the store's first file
                    # meanwhile: these vectors must not join its.
                    raise EmbedderChanged(recorded)

    async def _still_wanted(self, store_id: str, file_id: str) -> bool:
        async with self.db.read() as session:
            status = await session.scalar(
                select(VectorStoreFile.status).where(
                    VectorStoreFile.vector_store_id == store_id, VectorStoreFile.id == file_id
                )
            )
        return status == "in_progress"

    async def _fail(self, store_id: str, file_id: str, code: str, message: str) -> None:
        async with self.db.write() as session:
            await session.execute(
                update(VectorStoreFile)
                .where(
                    VectorStoreFile.vector_store_id == store_id,
                    VectorStoreFile.id == file_id,
                    VectorStoreFile.status == "in_progress",
                )
                .values(status="failed", last_error={"code": code, "message": message})
            )
        metrics.INGESTED.labels("failed").inc()
