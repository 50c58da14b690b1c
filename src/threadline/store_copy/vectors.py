"""The vector index of a copy: embeddings read out of the source's index (sqlite-vec's
`vec0` tables, pgvector's tables, or `chunks.embedding`) and written into the target's, bit
for bit, never recomputed; and a sha256 per vector width to check them by."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from threadline.store_copy.digest import Digest
from threadline.store_copy.progress import Progress
from threadline.vector_stores.index import PgVectorIndex, SqliteIndex


async def vector_kind(connection: AsyncConnection) -> str:
    if connection.dialect.name == "sqlite":
        return "sqlite"
    has = await connection.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
    return "pgvector" if has else "exact"


async def vector_tables(connection: AsyncConnection, kind: str) -> list[str]:
    if kind == "sqlite":
        names = await connection.scalars(
            text("SELECT name FROM sqlite_master WHERE name GLOB 'chunk_vectors_[0-9]*' "
                 "AND type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
        )  # fmt: skip
    elif kind == "pgvector":
        names = await connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                 "AND tablename ~ '^chunk_vectors_[0-9]+$'")
        )  # fmt: skip
    else:
        return ["chunks"]
    return sorted(names, key=lambda name: int(name.rsplit("_", 1)[1]))


def _from_text(value: str) -> bytes:
    """pgvector's text form (`[1,2.5,...]`, each float4 written to round-trip) as float32."""
    return np.array(value.strip("[]").split(","), dtype=np.float32).tobytes()


def _as_text(vector: bytes) -> str:
    # Each float32 widened to a double prints exactly; pgvector reads it back to the same
    # float32 (the index's own 7-digit literal would round some).
    return "[" + ",".join(map(repr, np.frombuffer(vector, dtype=np.float32).tolist())) + "]"


async def vectors(
    connection: AsyncConnection, kind: str, table: str, size: int
) -> AsyncIterator[list[tuple[int, str, bytes]]]:
    """(chunk id, store id, float32 bytes) of one vector table, in chunk-id order."""
    if kind == "sqlite":
        # Driven by `chunks` (keyset on its primary key) with a point lookup into the vec0
        # table per chunk: a vec0 table has no range scan on its key.
        query = (
            f"SELECT c.id, c.vector_store_id, v.embedding FROM chunks c JOIN {table} v "
            "ON v.chunk_id = c.id WHERE c.id > :last ORDER BY c.id LIMIT :n"
        )
    elif kind == "pgvector":
        query = (
            f"SELECT chunk_id, vector_store_id, embedding::text FROM {table} "
            "WHERE chunk_id > :last ORDER BY chunk_id LIMIT :n"
        )
    else:
        query = (
            "SELECT id, vector_store_id, embedding FROM chunks WHERE embedding IS NOT NULL "
            "AND id > :last ORDER BY id LIMIT :n"
        )
    last = -(2**31)  # below every id; within int32, the type of `chunks.id`
    while True:
        rows = (await connection.execute(text(query), {"last": last, "n": size})).all()
        if not rows:
            return
        yield [(int(i), s, _from_text(v) if isinstance(v, str) else bytes(v)) for i, s, v in rows]
        if len(rows) < size:
            return
        last = rows[-1][0]


async def _write_vectors(
    session: AsyncSession, kind: str, rows: Sequence[tuple[int, str, bytes]]
) -> None:
    """Into the target's index, exactly as read (one width per call)."""
    width = len(rows[0][2]) // 4
    if kind == "exact":
        await session.execute(
            text("UPDATE chunks SET embedding = :v WHERE id = :i"),
            [{"i": i, "v": v} for i, _, v in rows],
        )
        return
    index = SqliteIndex() if kind == "sqlite" else PgVectorIndex()
    table = await index._table(session, width)
    value = ":v" if kind == "sqlite" else "CAST(:v AS vector)"
    await session.execute(
        text(f"INSERT INTO {table}(chunk_id, vector_store_id, embedding) VALUES (:i, :s, {value})"),
        [{"i": i, "s": s, "v": v if kind == "sqlite" else _as_text(v)} for i, s, v in rows],
    )


def vector_hash(hashes: dict[int, Any], counts: dict[int, int], rows: Sequence) -> None:
    for chunk_id, store_id, vector in rows:
        width = len(vector) // 4
        if width not in hashes:
            hashes[width] = hashlib.sha256()
            counts[width] = 0
        hashes[width].update(f"{chunk_id}:{store_id}:".encode() + vector)
        counts[width] += 1


async def copy_vectors(
    source: AsyncConnection, target: AsyncConnection, size: int, digest: Digest, progress: Progress
) -> None:
    source_kind = await vector_kind(source)
    target_kind = await vector_kind(target)
    hashes: dict[int, Any] = {}
    session = AsyncSession(bind=target)
    try:
        for name in await vector_tables(source, source_kind):
            total = await source.scalar(text(f"SELECT count(*) FROM {name}")) or 0
            if source_kind == "exact":
                total = await source.scalar(
                    text("SELECT count(*) FROM chunks WHERE embedding IS NOT NULL")
                )
            done = 0
            async for rows in vectors(source, source_kind, name, size):
                vector_hash(hashes, digest.vector_counts, rows)
                by_width: dict[int, list[tuple[int, str, bytes]]] = {}
                for row in rows:
                    by_width.setdefault(len(row[2]), []).append(row)
                for group in by_width.values():
                    await _write_vectors(session, target_kind, group)
                done += len(rows)
                progress(f"vectors ({name})", done, total or 0)
            progress(f"vectors ({name})", done, total or 0, final=True)
    finally:
        await session.close()
    digest.vectors = {width: hasher.hexdigest() for width, hasher in hashes.items()}
