"""What vector stores, batches and their files show that is derived, not stored: file
counts, usage, statuses and expiry, and their wire objects."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.vector_stores.models import FileBatch, VectorStore, VectorStoreFile
from threadline.vector_stores.schemas import (
    FileBatchObject,
    FileCounts,
    VectorStoreFileObject,
    VectorStoreObject,
)

DAY = 86_400


def now() -> int:
    return int(time.time())


def expires_at_after(
    expires_after: dict[str, Any] | None, last_active_at: int | None
) -> int | None:
    if not expires_after or last_active_at is None:
        return None
    return last_active_at + int(expires_after["days"]) * DAY


def is_expired(store: VectorStore, at: int | None = None) -> bool:
    return store.expires_at is not None and store.expires_at <= (at or now())


async def counts_of(
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
    counts = await counts_of(session, VectorStoreFile.vector_store_id, [s.id for s in stores])
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


def batch_status(batch: FileBatch, counts: FileCounts) -> str:
    if batch.cancelled:
        return "cancelled"
    if counts.in_progress:
        return "in_progress"
    if counts.total and counts.failed == counts.total:
        return "failed"
    return "completed"


async def describe_batch(session: AsyncSession, batch: FileBatch) -> FileBatchObject:
    counts = (await counts_of(session, VectorStoreFile.batch_id, [batch.id]))[batch.id][0]
    return FileBatchObject(
        id=batch.id,
        created_at=batch.created_at,
        vector_store_id=batch.vector_store_id,
        status=batch_status(batch, counts),
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
