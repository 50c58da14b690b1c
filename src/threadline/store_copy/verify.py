"""The copy's last step: the target read back (rows and a sha256 per table, vectors per
width, the keyword index's integrity, each file's sha256) and compared with the source's
`Digest`; `CopyMismatch` when they differ."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import text

from threadline import tables
from threadline.store_copy.digest import Digest
from threadline.store_copy.files import sha256
from threadline.store_copy.rows import batches, canonical
from threadline.store_copy.vectors import vector_hash, vector_kind, vector_tables, vectors


class CopyMismatch(Exception):
    """The target, read back after the commit, differs from the source snapshot."""


async def verify(engine: Any, target_files: Path, expected: Digest, size: int) -> None:
    problems: list[str] = []
    async with engine.connect() as connection:
        for table in tables.Base.metadata.sorted_tables:
            hasher = hashlib.sha256()
            count = 0
            async for rows in batches(connection, table, size):
                for row in rows:
                    hasher.update(canonical(table, row) + b"\n")
                count += len(rows)
            if count != expected.rows[table.name]:
                problems.append(f"{table.name}: {count} rows, not {expected.rows[table.name]}")
            elif hasher.hexdigest() != expected.tables[table.name]:
                problems.append(f"{table.name}: the rows differ (sha256)")
        kind = await vector_kind(connection)
        hashes: dict[int, Any] = {}
        counts: dict[int, int] = {}
        for name in await vector_tables(connection, kind):
            async for rows in vectors(connection, kind, name, size):
                vector_hash(hashes, counts, rows)
        if {w: h.hexdigest() for w, h in hashes.items()} != expected.vectors:
            problems.append(f"vectors differ: {counts} here, {expected.vector_counts} copied")
        if connection.dialect.name == "sqlite":
            try:
                await connection.execute(
                    text("INSERT INTO chunk_fts(chunk_fts, rank) VALUES ('integrity-check', 1)")
                )
            except Exception as error:  # the keyword index disagrees with the chunks
                problems.append(f"keyword index: {error}")
            await connection.rollback()
    for file_id, sha in expected.files.items():
        path = target_files / file_id
        if not path.is_file():
            problems.append(f"file {file_id}: missing in {target_files}")
        elif await asyncio.to_thread(sha256, path) != sha:
            problems.append(f"file {file_id}: the bytes differ (sha256)")
    if problems:
        raise CopyMismatch("; ".join(problems))
