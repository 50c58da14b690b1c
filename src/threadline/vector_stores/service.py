"""Vector stores, their files and file batches: the rules, and their wire form.

Ingestion happens in the background (`ingestion.worker`); this module records what is
asked, hands files to the worker once the request's transaction is committed, and derives
statuses, counts and usage from the files when a store or batch is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.backends.embedder_choice import Embedders
from threadline.db.engine import Database, after_commit
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import QuotaExceeded, invalid
from threadline.files.service import require_files
from threadline.projects.service import storage_limit
from threadline.vector_stores.derived import (
    describe_file,
    describe_stores,
    expires_at_after,
    is_expired,
    now,
)
from threadline.vector_stores.index import ChunkIndex
from threadline.vector_stores.ingestion.worker import wake
from threadline.vector_stores.models import Chunk, FileBatch, VectorStore, VectorStoreFile
from threadline.vector_stores.schemas import (
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
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
    description: str | None = None,
) -> VectorStore:
    """A new store with its first files, in the caller's transaction (ingestion starts
    once it commits); 400 when the project already has as many as its quota allows."""
    await check_quota(session, project_id)
    store_id, created_at = ids.mint(ids.VECTOR_STORE)
    store = VectorStore(
        id=store_id,
        project_id=project_id,
        created_at=created_at,
        name=name,
        description=description,
        expires_after=expires_after,
        last_active_at=created_at,
        expires_at=expires_at_after(expires_after, created_at),
        metadata_=metadata or {},
    )
    session.add(store)
    await session.flush()
    await add_files(session, project_id, store_id, files, batch_id=None)
    return store


async def store_count(session: AsyncSession, project_id: str) -> int:
    """The project's vector stores, expired ones included (they are still listed)."""
    count = await session.scalar(
        select(func.count()).select_from(VectorStore).where(VectorStore.project_id == project_id)
    )
    return int(count or 0)


async def check_quota(session: AsyncSession, project_id: str, adding: int = 1) -> None:
    """400 when `adding` more stores would exceed the project's `max_vector_stores`."""
    limit = await storage_limit(session, project_id, "max_vector_stores")
    if limit is None or adding <= 0:
        return
    count = await store_count(session, project_id)
    if count + adding > limit:
        more = "another" if adding == 1 else f"{adding} more"
        raise QuotaExceeded(
            f"Vector store quota exceeded: this project may have at most {limit} vector "
            f"stores (max_vector_stores) and has {count}. Delete one to create {more}."
        )


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
            description=body.description,
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
            store.expires_at = expires_at_after(store.expires_after, store.last_active_at)
        if "metadata" in changes:
            store.metadata_ = body.metadata or {}
        if "description" in changes:
            store.description = body.description
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
        store.expires_at = expires_at_after(store.expires_after, stamp)


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
            await get_batch(session, project_id, store_id, batch_id)
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


async def get_batch(
    session: AsyncSession, project_id: str, store_id: str, batch_id: str
) -> FileBatch:
    await get_store(session, project_id, store_id)
    return await owned(session, FileBatch, batch_id, "file batch", vector_store_id=store_id)


# -- search --------------------------------------------------------------------------------


async def search_store(
    db: Database,
    index: ChunkIndex,
    embedders: Embedders,
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
            embedders,
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
