"""The file bytes of a copy: the ids the files directory keeps, each file copied to a
temporary name and renamed into place (whole or absent), and its sha256."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.store_copy.digest import Digest

CHUNK = 1024 * 1024


async def file_ids(connection: AsyncConnection) -> list[str]:
    """The ids whose bytes the files directory keeps: uploaded files and container files."""
    ids = await connection.scalars(
        text("SELECT id FROM files UNION SELECT id FROM container_files ORDER BY 1")
    )
    return list(ids)


def sha256(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def _copy_file(source: Path, target: Path) -> tuple[str, int]:
    """Copy to a temporary name beside `target`, then rename: `target` is whole or absent."""
    temporary = target.with_name(f".copy-{target.name}")
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as reader, temporary.open("wb") as writer:
            while block := reader.read(CHUNK):
                digest.update(block)
                writer.write(block)
                size += len(block)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


async def copy_files(
    source: AsyncConnection,
    source_files: Path,
    target_files: Path,
    in_place: bool,
    digest: Digest,
    say: Callable[[str], None],
) -> None:
    """Before any row is committed: rows never name bytes that are not there."""
    ids = await file_ids(source)
    target_files.mkdir(parents=True, exist_ok=True)
    for file_id in ids:
        origin = source_files / file_id
        if not origin.is_file():
            say(f"warning: {file_id} has no bytes in {source_files}; its row is copied alone")
            continue
        if in_place:
            digest.files[file_id] = await asyncio.to_thread(sha256, origin)
            digest.file_bytes += origin.stat().st_size
            continue
        sha, size = await asyncio.to_thread(_copy_file, origin, target_files / file_id)
        digest.files[file_id] = sha
        digest.file_bytes += size
    say(f"files {len(digest.files)}/{len(ids)} ({digest.file_bytes} bytes)")
