"""Vector stores, their files and file batches: the rules, and their wire form.

Ingestion happens in the background (`ingestion.worker`); this module records what is
asked, hands files to the worker once the request's transaction is committed, and derives
statuses, counts and usage from the files when a store or batch is read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.backends.embeddings import Embedder
from threadline.db.engine import Database, after_commit
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import invalid
from threadline.files.service import require_files
from threadline.vector_stores.index import ChunkIndex
from threadline.vector_stores.ingestion.worker import wake
from threadline.vector_stores.models import Chunk, FileBatch, VectorStore, VectorStoreFile
from threadline.vector_stores.schemas import (
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    FileBatchObject,
    FileCounts,
    SearchRankingOptions,
    SearchRequest,
    SearchResult,
    SearchResultsPage,
    TextContent,
    UpdateAttributesRequest,
    UpdateVectorStoreRequest,
    VectorStoreFileObject,
    VectorStoreObject,
    chunking_to_wire,
)
from threadline.vector_stores.search import rewrite, search

DAY = 86_400


def now() -> int:
    return int(time.time())


def _expires_at(expires_after: dict[str, Any] | None, last_active_at: int | None) -> int | None:
    if not expires_after or last_active_at is None:
        return None
    return last_active_at + int(expires_after["days"]) * DAY


def is_expired(store: VectorStore, at: int | None = None) -> bool:
    return store.expires_at is not None and store.expires_at <= (at or now())


# -- reading, with derived counts ----------------------------------------------------------


async def _counts(
    session: AsyncSession, column: Any, keys: Sequence[str]
) -> dict[str, tuple[FileCounts, int]]:
    """File counts and usage bytes per store (or batch) id, from one grouped query."""
    found: dict[str, tuple[FileCounts, int]] = {key: (FileCounts(), 0) for key in keys}
    if not keys:
        return found
    rows = await session.execute(
        select(
            column,
            VectorStoreFile.status,
            func.count(),
            func.coalesce(func.sum(VectorStoreFile.usage_bytes), 0),
        )
        .where(column.in_(keys))
        .group_by(column, VectorStoreFile.status)
    )
    for key, status, count, usage in rows:
        counts, total_usage = found[key]
        setattr(counts, status, count)
        counts.total += count
        found[key] = (counts, total_usage + int(usage))
    return found


def _store_status(store: VectorStore, counts: FileCounts) -> str:
    if is_expired(store):
        return "expired"
    return "in_progress" if counts.in_progress else "completed"


async def describe_stores(
    session: AsyncSession, stores: Sequence[VectorStore]
) -> list[VectorStoreObject]:
    counts = await _counts(session, VectorStoreFile.vector_store_id, [s.id for s in stores])
    return [
        VectorStoreObject(
            id=store.id,
            created_at=store.created_at,
            name=store.name,
            usage_bytes=counts[store.id][1],
            file_counts=counts[store.id][0],
            status=_store_status(store, counts[store.id][0]),
            expires_after=store.expires_after,
            expires_at=store.expires_at,
            last_active_at=store.last_active_at,
            metadata=store.metadata_,
        )
        for store in stores
    ]


def _batch_status(batch: FileBatch, counts: FileCounts) -> str:
    if batch.cancelled:
        return "cancelled"
    if counts.in_progress:
        return "in_progress"
    if counts.total and counts.failed == counts.total:
        return "failed"
    return "completed"


async def describe_batch(session: AsyncSession, batch: FileBatch) -> FileBatchObject:
    counts = (await _counts(session, VectorStoreFile.batch_id, [batch.id]))[batch.id][0]
    return FileBatchObject(
        id=batch.id,
        created_at=batch.created_at,
        vector_store_id=batch.vector_store_id,
        status=_batch_status(batch, counts),
        file_counts=counts,
    )


def describe_file(row: VectorStoreFile) -> VectorStoreFileObject:
    return VectorStoreFileObject(
        id=row.id,
        usage_bytes=row.usage_bytes,
        created_at=row.created_at,
        vector_store_id=row.vector_store_id,
        status=row.status,
        last_error=row.last_error,
        chunking_strategy=row.chunking_strategy,
        attributes=row.attributes,
    )


async def get_store(session: AsyncSession, project_id: str, store_id: str) -> VectorStore:
    return await owned(session, VectorStore, store_id, "vector store", project_id=project_id)


async def require_stores(
    session: AsyncSession, project_id: str, refs: Sequence[tuple[str, str]]
) -> None:
    """400 naming the first `(store_id, param)` reference that is not a project store."""
    if not refs:
        return
    found = set(
        await session.scalars(
            select(VectorStore.id).where(
                VectorStore.id.in_({store_id for store_id, _ in refs}),
                VectorStore.project_id == project_id,
            )
        )
    )
    for store_id, param in refs:
        if store_id not in found:
            raise invalid(f"No vector store found with id '{store_id}'.", param=param)


# -- stores --------------------------------------------------------------------------------


@dataclass
class NewFile:
    file_id: str
    chunking_strategy: dict[str, Any]
    attributes: dict[str, Any] | None
    param: str


async def insert_store(
    session: AsyncSession,
    project_id: str,
    *,
    name: str,
    files: Sequence[NewFile],
    expires_after: dict[str, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> VectorStore:
    """A new store with its first files, in the caller's transaction (ingestion starts
    once it commits)."""
    store_id, created_at = ids.mint(ids.VECTOR_STORE)
    store = VectorStore(
        id=store_id,
        project_id=project_id,
        created_at=created_at,
        name=name,
        expires_after=expires_after,
        last_active_at=created_at,
        expires_at=_expires_at(expires_after, created_at),
        metadata_=metadata or {},
    )
    session.add(store)
    await session.flush()
    await add_files(session, project_id, store_id, files, batch_id=None)
    return store


async def add_files(
    session: AsyncSession,
    project_id: str,
    store_id: str,
    files: Sequence[NewFile],
    batch_id: str | None = None,
) -> None:
    """Rows for files new to the store (files already there join the batch, if any);
    ingestion is woken once the transaction commits."""
    await require_files(session, project_id, [(f.file_id, f.param) for f in files])
    present = set(
        await session.scalars(
            select(VectorStoreFile.id).where(
                VectorStoreFile.vector_store_id == store_id,
                VectorStoreFile.id.in_({f.file_id for f in files}),
            )
        )
    )
    added: list[str] = []
    stamp = now()
    for new in files:
        if new.file_id in present or new.file_id in added:
            if batch_id is not None:
                await session.execute(
                    update(VectorStoreFile)
                    .where(
                        VectorStoreFile.vector_store_id == store_id,
                        VectorStoreFile.id == new.file_id,
                    )
                    .values(batch_id=batch_id)
                )
            continue
        session.add(
            VectorStoreFile(
                vector_store_id=store_id,
                id=new.file_id,
                created_at=stamp,
                status="in_progress",
                last_error=None,
                usage_bytes=0,
                chunking_strategy=new.chunking_strategy,
                attributes=new.attributes,
                batch_id=batch_id,
            )
        )
        added.append(new.file_id)
    await session.flush()
    if added:
        after_commit(session, wake)


async def create_store(
    db: Database, project_id: str, body: CreateVectorStoreRequest
) -> VectorStoreObject:
    strategy = chunking_to_wire(body.chunking_strategy)
    async with db.write() as session:
        store = await insert_store(
            session,
            project_id,
            name=body.name or "",
            files=[
                NewFile(file_id, strategy, None, f"file_ids[{index}]")
                for index, file_id in enumerate(body.file_ids or [])
            ],
            expires_after=body.expires_after.model_dump() if body.expires_after else None,
            metadata=body.metadata,
        )
        described = (await describe_stores(session, [store]))[0]
    return described


async def retrieve_store(db: Database, project_id: str, store_id: str) -> VectorStoreObject:
    async with db.read() as session:
        store = await get_store(session, project_id, store_id)
        return (await describe_stores(session, [store]))[0]


async def modify_store(
    db: Database, project_id: str, store_id: str, body: UpdateVectorStoreRequest
) -> VectorStoreObject:
    changes = body.given()
    async with db.write() as session:
        store = await get_store(session, project_id, store_id)
        if "name" in changes:
            store.name = body.name or ""
        if "expires_after" in changes:
            assert body.expires_after is not None
            store.expires_after = body.expires_after.model_dump()
            store.expires_at = _expires_at(store.expires_after, store.last_active_at)
        if "metadata" in changes:
            store.metadata_ = body.metadata or {}
        await session.flush()
        return (await describe_stores(session, [store]))[0]


async def _drop_chunks(session: AsyncSession, index: ChunkIndex, *where: Any) -> None:
    chunks = (await session.execute(select(Chunk.id, Chunk.text).where(*where))).all()
    await index.delete(session, [(chunk_id, body) for chunk_id, body in chunks])
    await session.execute(delete(Chunk).where(*where))


async def delete_store(db: Database, index: ChunkIndex, project_id: str, store_id: str) -> None:
    async with db.write() as session:
        store = await get_store(session, project_id, store_id)
        await _drop_chunks(session, index, Chunk.vector_store_id == store_id)
        await session.delete(store)


async def list_stores(
    db: Database, project_id: str, page: PageQuery
) -> tuple[list[VectorStoreObject], bool]:
    async with db.read() as session:
        rows, has_more = await fetch_page(
            session, VectorStore, [VectorStore.project_id == project_id], page
        )
        return await describe_stores(session, rows), has_more


async def touch(session: AsyncSession, stores: Sequence[VectorStore]) -> None:
    """Note that the stores were used now, which pushes back their expiry."""
    stamp = now()
    for store in stores:
        store.last_active_at = stamp
        store.expires_at = _expires_at(store.expires_after, stamp)


async def expire_overdue(db: Database, index: ChunkIndex) -> int:
    """Expired stores keep their record (status `expired`) but lose their chunks."""
    async with db.write() as session:
        overdue = list(
            await session.scalars(
                select(VectorStore.id).where(VectorStore.expires_at <= now()).limit(100)
            )
        )
        for store_id in overdue:
            await _drop_chunks(session, index, Chunk.vector_store_id == store_id)
    return len(overdue)


# -- files ---------------------------------------------------------------------------------


async def get_file(
    session: AsyncSession, project_id: str, store_id: str, file_id: str
) -> VectorStoreFile:
    await get_store(session, project_id, store_id)
    return await owned(session, VectorStoreFile, (store_id, file_id), "file")


async def add_file(
    db: Database,
    project_id: str,
    store_id: str,
    body: CreateVectorStoreFileRequest,
) -> VectorStoreFileObject:
    new = NewFile(
        body.file_id, chunking_to_wire(body.chunking_strategy), body.attributes, "file_id"
    )
    async with db.write() as session:
        await get_store(session, project_id, store_id)
        await add_files(session, project_id, store_id, [new], batch_id=None)
        row = await session.get(VectorStoreFile, (store_id, body.file_id))
        assert row is not None
        described = describe_file(row)
    return described


async def retrieve_file(
    db: Database, project_id: str, store_id: str, file_id: str
) -> VectorStoreFileObject:
    async with db.read() as session:
        return describe_file(await get_file(session, project_id, store_id, file_id))


async def update_attributes(
    db: Database, project_id: str, store_id: str, file_id: str, body: UpdateAttributesRequest
) -> VectorStoreFileObject:
    async with db.write() as session:
        row = await get_file(session, project_id, store_id, file_id)
        row.attributes = body.attributes
        return describe_file(row)


async def remove_file(
    db: Database, index: ChunkIndex, project_id: str, store_id: str, file_id: str
) -> None:
    async with db.write() as session:
        row = await get_file(session, project_id, store_id, file_id)
        await _drop_chunks(
            session, index, Chunk.vector_store_id == store_id, Chunk.file_id == file_id
        )
        await session.delete(row)


async def forget_file_everywhere(session: AsyncSession, index: ChunkIndex, file_id: str) -> None:
    """A deleted file leaves every store it was in."""
    await _drop_chunks(session, index, Chunk.file_id == file_id)
    await session.execute(delete(VectorStoreFile).where(VectorStoreFile.id == file_id))


def _position(table: Any, key: Any) -> Any:
    """Cursor lookup for files in a store or batch: ids are file ids, so their place in
    the list is when they were added, read from the row."""

    async def lookup(session: AsyncSession, file_id: str) -> int | None:
        return await session.scalar(
            select(table.created_at).where(key, table.id == file_id).limit(1)
        )

    return lookup


async def list_files(
    db: Database,
    project_id: str,
    store_id: str,
    page: PageQuery,
    status: str | None,
    batch_id: str | None = None,
) -> tuple[list[VectorStoreFileObject], bool]:
    """A page of the store's files, or of the batch's when `batch_id` is given."""
    scope = (
        VectorStoreFile.batch_id == batch_id
        if batch_id
        else VectorStoreFile.vector_store_id == store_id
    )
    where = [scope, VectorStoreFile.vector_store_id == store_id]
    if status:
        where.append(VectorStoreFile.status == status)
    async with db.read() as session:
        if batch_id:
            await _get_batch(session, project_id, store_id, batch_id)
        else:
            await get_store(session, project_id, store_id)
        rows, has_more = await fetch_page(
            session, VectorStoreFile, where, page, position_of=_position(VectorStoreFile, scope)
        )
        return [describe_file(row) for row in rows], has_more


async def file_content(db: Database, project_id: str, store_id: str, file_id: str) -> list[str]:
    async with db.read() as session:
        await get_file(session, project_id, store_id, file_id)
        return list(
            await session.scalars(
                select(Chunk.text)
                .where(Chunk.vector_store_id == store_id, Chunk.file_id == file_id)
                .order_by(Chunk.position)
            )
        )


# -- batches -------------------------------------------------------------------------------


async def create_batch(
    db: Database,
    project_id: str,
    store_id: str,
    body: CreateFileBatchRequest,
) -> FileBatchObject:
    default = chunking_to_wire(body.chunking_strategy)
    if body.files is not None:
        files = [
            NewFile(
                spec.file_id,
                chunking_to_wire(spec.chunking_strategy) if spec.chunking_strategy else default,
                spec.attributes if spec.attributes is not None else body.attributes,
                f"files[{index}].file_id",
            )
            for index, spec in enumerate(body.files)
        ]
    else:
        files = [
            NewFile(file_id, default, body.attributes, f"file_ids[{index}]")
            for index, file_id in enumerate(body.file_ids or [])
        ]
    batch_id, created_at = ids.mint(ids.FILE_BATCH)
    async with db.write() as session:
        await get_store(session, project_id, store_id)
        batch = FileBatch(
            id=batch_id, vector_store_id=store_id, created_at=created_at, cancelled=False
        )
        session.add(batch)
        await session.flush()
        await add_files(session, project_id, store_id, files, batch_id=batch_id)
        described = await describe_batch(session, batch)
    return described


async def _get_batch(
    session: AsyncSession, project_id: str, store_id: str, batch_id: str
) -> FileBatch:
    await get_store(session, project_id, store_id)
    return await owned(session, FileBatch, batch_id, "file batch", vector_store_id=store_id)


async def retrieve_batch(
    db: Database, project_id: str, store_id: str, batch_id: str
) -> FileBatchObject:
    async with db.read() as session:
        return await describe_batch(
            session, await _get_batch(session, project_id, store_id, batch_id)
        )


async def cancel_batch(
    db: Database, project_id: str, store_id: str, batch_id: str
) -> FileBatchObject:
    """Files of the batch not yet ingested end `cancelled`; the ones done stay."""
    async with db.write() as session:
        batch = await _get_batch(session, project_id, store_id, batch_id)
        counts = (await _counts(session, VectorStoreFile.batch_id, [batch.id]))[batch.id][0]
        if _batch_status(batch, counts) in ("completed", "failed"):
            raise invalid(f"Cannot cancel a batch with status '{_batch_status(batch, counts)}'.")
        batch.cancelled = True
        await session.execute(
            update(VectorStoreFile)
            .where(VectorStoreFile.batch_id == batch_id, VectorStoreFile.status == "in_progress")
            .values(status="cancelled")
        )
        await session.flush()
        return await describe_batch(session, batch)


# -- search --------------------------------------------------------------------------------


async def search_store(
    db: Database,
    index: ChunkIndex,
    embedder: Embedder,
    project_id: str,
    store_id: str,
    body: SearchRequest,
) -> SearchResultsPage:
    queries = [body.query] if isinstance(body.query, str) else list(body.query)
    if body.rewrite_query:
        queries = [rewrite(query) for query in queries]
    ranking = body.ranking_options or SearchRankingOptions()
    async with db.write() as session:
        store = await get_store(session, project_id, store_id)
        if is_expired(store):
            raise invalid(f"Vector store {store_id} has expired.")
        hits = await search(
            session,
            index,
            embedder,
            [store],
            queries,
            max_results=body.max_num_results,
            filters=body.filters,
            ranker=ranking.ranker,
            score_threshold=ranking.score_threshold,
        )
        await touch(session, [store])
    return SearchResultsPage(
        search_query=queries,
        data=[
            SearchResult(
                file_id=hit.file_id,
                filename=hit.filename,
                score=round(hit.score, 6),
                attributes=hit.attributes,
                content=[TextContent(text=hit.text)],
            )
            for hit in hits
        ],
    )
