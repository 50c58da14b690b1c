"""A container's files: `/mnt/data/<path>` rows of a container, added by the user (an upload,
or a copy of a project file) or written by the code run in it (`write_file`), and their
operations for the HTTP API. Their bytes are handled in `containers.file_bytes`.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.containers.file_bytes import copy_bytes, save_new
from threadline.containers.models import Container, ContainerFile
from threadline.containers.paths import upload_path, written_path
from threadline.containers.service import get_container, require_running, touch
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import not_found
from threadline.files import service as files
from threadline.files.storage import FileStorage
from threadline.text import check_text

SOURCES = ("user", "assistant")


# -- wire objects -----------------------------------------------------------------------------


def file_object(row: ContainerFile) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "container.file",
        "container_id": row.container_id,
        "created_at": row.created_at,
        "bytes": row.bytes,
        "path": row.path,
        "source": row.source,
    }


# -- what the code_interpreter integration calls, inside its own transaction ------------------


async def _locked(session: AsyncSession, project_id: str, container_id: str) -> Container:
    """The container, its row locked until the transaction ends (PostgreSQL; SQLite's
    writers take turns anyway): what two requests add to it at once gets distinct paths."""
    row = await session.scalar(
        select(Container)
        .where(Container.id == container_id, Container.project_id == project_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise not_found("container", container_id)
    return row


async def write_file(
    session: AsyncSession,
    storage: FileStorage,
    project_id: str,
    container_id: str,
    name: str,
    data: bytes,
    source: str = "assistant",
) -> ContainerFile:
    """Keep a file the code wrote at `name` (under /mnt/data): a file the container has at
    that path gets these bytes and keeps its id; otherwise it is a new file. Counts toward
    the storage quota (what it adds over the bytes it replaces); 400 past it."""
    if source not in SOURCES:
        raise ValueError(f"a container file's source is one of {SOURCES}, not {source!r}")
    container = await _locked(session, project_id, container_id)
    path = written_path(name)
    existing = await session.scalar(
        select(ContainerFile).where(
            ContainerFile.container_id == container_id, ContainerFile.path == path
        )
    )
    grows = len(data) - (existing.bytes if existing is not None else 0)
    if grows > 0:
        await files.check_quota(session, project_id, grows, param="file")
    await touch(session, container)
    if existing is not None:
        await asyncio.to_thread(storage.save, existing.id, io.BytesIO(data))
        existing.bytes = len(data)
        return existing
    file_id, created_at = ids.mint(ids.CONTAINER_FILE)
    await save_new(session, storage, file_id, lambda: storage.save(file_id, io.BytesIO(data)))
    row = ContainerFile(
        id=file_id,
        container_id=container_id,
        project_id=project_id,
        path=path,
        bytes=len(data),
        source=source,
        created_at=created_at,
    )
    session.add(row)
    return row


async def _paths(session: AsyncSession, container_id: str) -> set[str]:
    return set(
        await session.scalars(
            select(ContainerFile.path).where(ContainerFile.container_id == container_id)
        )
    )


# -- a container's files, for the HTTP API ----------------------------------------------------


async def _running(db: Database, project_id: str, container_id: str) -> None:
    """404 or 400 before any bytes are written for a container that cannot take a file."""
    async with db.read() as session:
        require_running(await get_container(session, project_id, container_id), "container_id")


async def _add(
    db: Database,
    storage: FileStorage,
    project_id: str,
    container_id: str,
    new: tuple[str, int],
    filename: str,
    size: int,
    param: str,
) -> dict[str, Any]:
    """Record the file `new` (its id and creation time), whose `size` bytes are stored
    already, as `/mnt/data/<filename>` (made unique); its bytes are deleted if it is not."""
    file_id, created_at = new
    try:
        async with db.write() as session:
            container = await _locked(session, project_id, container_id)
            require_running(container, "container_id")
            await files.check_quota(session, project_id, size, param=param)
            row = ContainerFile(
                id=file_id,
                container_id=container_id,
                project_id=project_id,
                path=upload_path(filename, file_id, await _paths(session, container_id)),
                bytes=size,
                source="user",
                created_at=created_at,
            )
            session.add(row)
            await touch(session, container)
    except BaseException:
        storage.delete(file_id)
        raise
    return file_object(row)


async def add_upload(
    db: Database,
    storage: FileStorage,
    project_id: str,
    container_id: str,
    filename: str,
    source: BinaryIO,
) -> dict[str, Any]:
    """Add the uploaded bytes `source` as `/mnt/data/<filename>` (made unique)."""
    check_text(filename, "file")  # a multipart filename never passed the JSON check
    await _running(db, project_id, container_id)
    new = ids.mint(ids.CONTAINER_FILE)
    size = await asyncio.to_thread(storage.save, new[0], source)
    return await _add(db, storage, project_id, container_id, new, filename, size, "file")


async def add_existing(
    db: Database, storage: FileStorage, project_id: str, container_id: str, file_id: str
) -> dict[str, Any]:
    """Add a copy of the project's file `file_id` as `/mnt/data/<its filename>`."""
    check_text(file_id, "file_id")  # a multipart field never passed the JSON check
    await _running(db, project_id, container_id)
    async with db.read() as session:
        await files.require_files(session, project_id, [(file_id, "file_id")])
        source = await files.get(session, project_id, file_id)
    new = ids.mint(ids.CONTAINER_FILE)
    size = await asyncio.to_thread(copy_bytes, storage, source.id, new[0])
    return await _add(db, storage, project_id, container_id, new, source.filename, size, "file_id")


async def _get_file(
    session: AsyncSession, project_id: str, container_id: str, file_id: str
) -> ContainerFile:
    await get_container(session, project_id, container_id)
    return await owned(session, ContainerFile, file_id, "container file", container_id=container_id)


async def list_files(
    db: Database, project_id: str, container_id: str, page: PageQuery
) -> tuple[list[dict[str, Any]], bool]:
    async with db.read() as session:
        await get_container(session, project_id, container_id)
        where = [ContainerFile.container_id == container_id]
        rows, has_more = await fetch_page(session, ContainerFile, where, page)
    return [file_object(row) for row in rows], has_more


async def retrieve_file(
    db: Database, project_id: str, container_id: str, file_id: str
) -> dict[str, Any]:
    async with db.read() as session:
        return file_object(await _get_file(session, project_id, container_id, file_id))


async def delete_file(
    db: Database, storage: FileStorage, project_id: str, container_id: str, file_id: str
) -> str:
    async with db.write() as session:
        await session.delete(await _get_file(session, project_id, container_id, file_id))
    storage.delete(file_id)
    return file_id


async def content(
    db: Database, storage: FileStorage, project_id: str, container_id: str, file_id: str
) -> tuple[Path, str]:
    """Where the file's bytes are, and its path in the container (for its media type)."""
    async with db.read() as session:
        row = await _get_file(session, project_id, container_id, file_id)
    return storage.path(row.id), row.path
