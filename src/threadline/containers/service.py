"""Containers and their files: the sandbox sessions of the Responses API's code_interpreter.

A container is a row; its files are rows whose bytes sit in the files store under their own
`cfile_` ids, so they outlive the worker whose code wrote them and count toward the project's
`max_file_bytes` with its files (one quota of what the files store keeps). A container
expires once idle for longer than its `expires_after` minutes: it is then still listed and
read (status `expired`) and may be deleted, but nothing is added to it or run in it, and the
server's reaper soon drops its files (`drop_expired_files`).

The HTTP API's operations take the `Database` and open their own transactions; the functions
that take a session (`get_container`, `create_container`, `write_file`...) are those the
code_interpreter integration calls inside a transaction of its own.
"""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import delete, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.containers.models import Container, ContainerFile
from threadline.containers.paths import upload_path, written_path
from threadline.containers.schemas import CreateContainerBody
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import invalid, not_found
from threadline.files import service as files
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.text import check_text

EXPIRES_MINUTES = 20
MEMORY_LIMIT = "1g"
# Threadline's sandbox has no network (docs/security.md): the one policy a container has.
NO_NETWORK = {"type": "disabled"}
SOURCES = ("user", "assistant")


def _now() -> int:
    return int(time.time())


# -- wire objects -----------------------------------------------------------------------------


def is_expired(container: Container, now: int | None = None) -> bool:
    """Idle for longer than its `expires_after` minutes."""
    idle = (now if now is not None else _now()) - container.last_active_at
    return idle > container.expires_after_minutes * 60


def container_object(row: Container) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "container",
        "name": row.name,
        "created_at": row.created_at,
        "status": "expired" if is_expired(row) else "running",
        "last_active_at": row.last_active_at,
        "expires_after": {"anchor": "last_active_at", "minutes": row.expires_after_minutes},
        "memory_limit": row.memory_limit,
        "network_policy": {"type": (row.network_policy or NO_NETWORK)["type"]},
    }


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


async def get_container(session: AsyncSession, project_id: str, container_id: str) -> Container:
    """The project's container; 404 when there is none (or it is another project's)."""
    return await owned(session, Container, container_id, "container", project_id=project_id)


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


def require_running(container: Container, param: str | None) -> None:
    """400 when the container has expired: nothing is added to it or run in it any more."""
    if is_expired(container):
        raise invalid(
            f"Container {container.id} has expired: it was idle for more than "
            f"{container.expires_after_minutes} minutes. Create a new container.",
            param=param,
        )


async def touch(session: AsyncSession, container: Container) -> None:
    """Note that the container was used now, which pushes back its expiry."""
    container.last_active_at = max(container.last_active_at, _now())
    session.add(container)


async def create_container(
    session: AsyncSession,
    storage: FileStorage,
    project_id: str,
    *,
    name: str,
    file_ids: list[str],
    minutes: int = EXPIRES_MINUTES,
    memory_limit: str = MEMORY_LIMIT,
    param: str = "file_ids",
) -> Container:
    """A new running container holding a copy of each of `file_ids` (files of the project;
    400 naming `param[i]` for one that is not) at `/mnt/data/<filename>`."""
    wanted = list(dict.fromkeys(file_ids))  # a file given twice is copied once
    await files.require_files(
        session, project_id, [(file_id, f"{param}[{n}]") for n, file_id in enumerate(file_ids)]
    )
    sources = {
        row.id: row for row in await session.scalars(select(File).where(File.id.in_(wanted)))
    }
    copied = sum(sources[file_id].bytes for file_id in wanted)
    if copied:  # an empty container adds nothing, even to a project over its quota
        await files.check_quota(session, project_id, copied, param=param)
    container_id, created_at = ids.mint(ids.CONTAINER)
    container = await _new(
        session, project_id, container_id, created_at, name, minutes, memory_limit
    )
    taken: set[str] = set()
    for file_id in wanted:
        row = await _copy_in(session, storage, container, sources[file_id], taken)
        taken.add(row.path)
    return container


async def _new(
    session: AsyncSession,
    project_id: str,
    container_id: str,
    created_at: int,
    name: str,
    minutes: int = EXPIRES_MINUTES,
    memory_limit: str = MEMORY_LIMIT,
) -> Container:
    container = Container(
        id=container_id,
        project_id=project_id,
        name=name,
        created_at=created_at,
        last_active_at=created_at,
        expires_after_minutes=minutes,
        memory_limit=memory_limit,
        network_policy=dict(NO_NETWORK),
    )
    session.add(container)
    await session.flush()  # its files refer to it
    return container


async def thread_container(
    session: AsyncSession, project_id: str, thread_id: str
) -> tuple[Container, list[str]]:
    """The container an Assistants thread's code runs in (`cntr_X` for `thread_X`), so that
    a run's code calls are items with a container as a response's are, and a response may
    go on in the thread's sandbox. Made on first use; one that has expired starts afresh,
    its files dropped: the ids of their bytes, to delete once this commits, come back."""
    container_id = ids.as_prefix(thread_id, ids.CONTAINER)
    row = await session.get(Container, container_id, populate_existing=True)
    if row is None:
        name = f"Sandbox of {thread_id}"
        return await _new(session, project_id, container_id, _now(), name), []
    if not is_expired(row):
        return row, []
    gone = [file.id for file in await container_files(session, container_id)]
    await session.execute(delete(ContainerFile).where(ContainerFile.container_id == container_id))
    await touch(session, row)
    return row, gone


async def drop_expired_files(db: Database, storage: FileStorage) -> int:
    """The files of containers that have expired go, bytes and all (OpenAI discards an
    expired container's data); the container stays, `expired`. The number dropped."""
    now = _now()
    async with db.write() as session:
        gone = list(
            await session.scalars(
                select(ContainerFile.id)
                .join(Container, Container.id == ContainerFile.container_id)
                .where(Container.last_active_at + Container.expires_after_minutes * 60 < now)
                .limit(1000)
            )
        )
        if gone:
            await session.execute(delete(ContainerFile).where(ContainerFile.id.in_(gone)))
    for file_id in gone:
        storage.delete(file_id)
    return len(gone)


async def container_files(session: AsyncSession, container_id: str) -> list[ContainerFile]:
    """The container's files, oldest first."""
    return list(
        await session.scalars(
            select(ContainerFile)
            .where(ContainerFile.container_id == container_id)
            .order_by(ContainerFile.created_at, ContainerFile.id)
        )
    )


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
    await _save(session, storage, file_id, lambda: storage.save(file_id, io.BytesIO(data)))
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


# -- the bytes --------------------------------------------------------------------------------

_WRITTEN = "threadline_container_bytes"


def _discard_on_rollback(session: AsyncSession, storage: FileStorage, file_id: str) -> None:
    """Delete the bytes written for a new file of this transaction if the transaction rolls
    back (its row never existed); forget them once it commits."""
    written = session.info.get(_WRITTEN)
    if written is None:
        written = session.info[_WRITTEN] = []

        def rolled_back(_session: Any) -> None:
            for stale in session.info.pop(_WRITTEN, ()):
                storage.delete(stale)

        def committed(_session: Any) -> None:
            session.info.pop(_WRITTEN, None)

        event.listen(session.sync_session, "after_rollback", rolled_back, once=True)
        event.listen(session.sync_session, "after_commit", committed, once=True)
    written.append(file_id)


async def _save(session: AsyncSession, storage: FileStorage, file_id: str, save: Any) -> int:
    """Run `save()` (which writes the bytes of the new file `file_id`) off the event loop,
    its bytes removed again if it or the transaction fails."""
    _discard_on_rollback(session, storage, file_id)
    try:
        return await asyncio.to_thread(save)
    except BaseException:
        storage.delete(file_id)
        raise


def _copy(storage: FileStorage, source_id: str, file_id: str) -> int:
    with storage.path(source_id).open("rb") as source:
        return storage.save(file_id, source)


async def _copy_in(
    session: AsyncSession,
    storage: FileStorage,
    container: Container,
    source: File,
    taken: set[str],
) -> ContainerFile:
    """A copy of the project file `source` in the container, added by the user."""
    file_id, created_at = ids.mint(ids.CONTAINER_FILE)
    size = await _save(session, storage, file_id, lambda: _copy(storage, source.id, file_id))
    row = ContainerFile(
        id=file_id,
        container_id=container.id,
        project_id=container.project_id,
        path=upload_path(source.filename, file_id, taken),
        bytes=size,
        source="user",
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


async def _container_bytes(session: AsyncSession, project_id: str) -> int:
    used = await session.scalar(
        select(func.coalesce(func.sum(ContainerFile.bytes), 0)).where(
            ContainerFile.project_id == project_id
        )
    )
    return int(used or 0)


# Container files count toward the project's `max_file_bytes` with its files.
files.count_stored_bytes(_container_bytes)


# -- containers, for the HTTP API -------------------------------------------------------------


def _check_request(body: CreateContainerBody) -> None:
    """What Threadline's sandbox cannot give: a network, or skills."""
    if body.network_policy is not None and body.network_policy.type != "disabled":
        raise invalid(
            "Threadline's code sandbox has no network access: a network_policy of type "
            '\'allowlist\' is not supported; send {"type": "disabled"} or leave it out.',
            param="network_policy",
        )
    if body.skills:
        raise invalid("Skills are not available on this server.", param="skills")


async def create(
    db: Database, storage: FileStorage, project_id: str, body: CreateContainerBody
) -> dict[str, Any]:
    _check_request(body)
    async with db.write() as session:
        container = await create_container(
            session,
            storage,
            project_id,
            name=body.name,
            file_ids=body.file_ids or [],
            minutes=body.expires_after.minutes if body.expires_after else EXPIRES_MINUTES,
            memory_limit=body.memory_limit or MEMORY_LIMIT,
        )
        return container_object(container)


async def list_containers(
    db: Database, project_id: str, page: PageQuery, name: str | None
) -> tuple[list[dict[str, Any]], bool]:
    where = [Container.project_id == project_id]
    if name:
        where.append(Container.name == name)
    async with db.read() as session:
        rows, has_more = await fetch_page(session, Container, where, page)
    return [container_object(row) for row in rows], has_more


async def retrieve(db: Database, project_id: str, container_id: str) -> dict[str, Any]:
    async with db.read() as session:
        return container_object(await get_container(session, project_id, container_id))


async def delete_container(
    db: Database, storage: FileStorage, project_id: str, container_id: str
) -> str:
    """Delete the container (expired or not), its files and their bytes."""
    async with db.write() as session:
        container = await get_container(session, project_id, container_id)
        gone = [row.id for row in await container_files(session, container_id)]
        await session.execute(
            delete(ContainerFile).where(ContainerFile.container_id == container_id)
        )
        await session.delete(container)
    for file_id in gone:
        storage.delete(file_id)
    return container_id


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
    size = await asyncio.to_thread(_copy, storage, source.id, new[0])
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
