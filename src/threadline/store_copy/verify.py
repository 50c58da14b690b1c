"""Reading one side of a copy back as a `Digest` (rows and a sha256 per table, vectors per
width, each file's sha256) and comparing two: the copy's last step (`verify`), and the
check a rerun makes of a target that already holds rows (`CopyMismatch` when they differ)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline import tables
from threadline.store_copy.digest import Digest
from threadline.store_copy.files import file_ids, sha256
from threadline.store_copy.rows import batches, canonical
from threadline.store_copy.vectors import vector_hash, vector_kind, vector_tables, vectors


class CopyMismatch(Exception):
    """The target, read back after the commit, differs from the source snapshot."""


async def read_digest(connection: AsyncConnection, size: int) -> Digest:
    """The rows and vectors one side holds, read in its current transaction."""
    digest = Digest()
    for table in tables.Base.metadata.sorted_tables:
        hasher = hashlib.sha256()
        count = 0
        async for rows in batches(connection, table, size):
            for row in rows:
                hasher.update(canonical(table, row) + b"\n")
            count += len(rows)
        digest.rows[table.name] = count
        digest.tables[table.name] = hasher.hexdigest()
    kind = await vector_kind(connection)
    hashes: dict[int, Any] = {}
    for name in await vector_tables(connection, kind):
        async for rows in vectors(connection, kind, name, size):
            vector_hash(hashes, digest.vector_counts, rows)
    digest.vectors = {width: hasher.hexdigest() for width, hasher in hashes.items()}
    return digest


async def hash_files(connection: AsyncConnection, files_dir: Path, digest: Digest) -> None:
    """Add the sha256 of each file the rows name and `files_dir` holds."""
    for file_id in await file_ids(connection):
        path = files_dir / file_id
        if path.is_file():
            digest.files[file_id] = await asyncio.to_thread(sha256, path)
            digest.file_bytes += path.stat().st_size


def differences(expected: Digest, found: Digest, target_files: Path) -> list[str]:
    """What `found` (the target's rows and vectors) lacks or holds otherwise; files are
    checked in `target_files` against `expected.files`."""
    problems: list[str] = []
    for name, rows in expected.rows.items():
        if found.rows.get(name) != rows:
            problems.append(f"{name}: {found.rows.get(name)} rows, not {rows}")
        elif found.tables[name] != expected.tables[name]:
            problems.append(f"{name}: the rows differ (sha256)")
    if found.vectors != expected.vectors:
        problems.append(
            f"vectors differ: {found.vector_counts} here, {expected.vector_counts} copied"
        )
    for file_id, sha in expected.files.items():
        path = target_files / file_id
        if not path.is_file():
            problems.append(f"file {file_id}: missing in {target_files}")
        elif sha256(path) != sha:
            problems.append(f"file {file_id}: the bytes differ (sha256)")
    return problems


async def _keyword_index(connection: AsyncConnection) -> list[str]:
    if connection.dialect.name != "sqlite":
        return []  # PostgreSQL's is a generated column of the rows compared above
    try:
        await connection.execute(
            text("INSERT INTO chunk_fts(chunk_fts, rank) VALUES ('integrity-check', 1)")
        )
    except Exception as error:  # the keyword index disagrees with the chunks
        return [f"keyword index: {error}"]
    finally:
        await connection.rollback()
    return []


async def verify(engine: Any, target_files: Path, expected: Digest, size: int) -> None:
    async with engine.connect() as connection:
        found = await read_digest(connection, size)
        problems = await _keyword_index(connection)
    problems = differences(expected, found, target_files) + problems
    if problems:
        raise CopyMismatch("; ".join(problems))
