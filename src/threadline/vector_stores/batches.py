"""File batches of a vector store: files added together, counted and cancelled as one."""

from __future__ import annotations

from sqlalchemy import update

from threadline import ids
from threadline.db.engine import Database
from threadline.errors import invalid
from threadline.vector_stores.derived import batch_status, counts_of, describe_batch
from threadline.vector_stores.models import FileBatch, VectorStoreFile
from threadline.vector_stores.schemas import (
    CreateFileBatchRequest,
    FileBatchObject,
    chunking_to_wire,
)
from threadline.vector_stores.service import NewFile, add_files, get_batch, get_store


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


async def retrieve_batch(
    db: Database, project_id: str, store_id: str, batch_id: str
) -> FileBatchObject:
    async with db.read() as session:
        return await describe_batch(
            session, await get_batch(session, project_id, store_id, batch_id)
        )


async def cancel_batch(
    db: Database, project_id: str, store_id: str, batch_id: str
) -> FileBatchObject:
    """Files of the batch not yet ingested end `cancelled`; the ones done stay."""
    async with db.write() as session:
        batch = await get_batch(session, project_id, store_id, batch_id)
        counts = (await counts_of(session, VectorStoreFile.batch_id, [batch.id]))[batch.id][0]
        if batch_status(batch, counts) in ("completed", "failed"):
            raise invalid(f"Cannot cancel a batch with status '{batch_status(batch, counts)}'.")
        batch.cancelled = True
        await session.execute(
            update(VectorStoreFile)
            .where(VectorStoreFile.batch_id == batch_id, VectorStoreFile.status == "in_progress")
            .values(status="cancelled")
        )
        await session.flush()
        return await describe_batch(session, batch)
