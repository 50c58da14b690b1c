"""Containers: the sandbox sessions of the Responses API's code_interpreter.

A container is a row; its files (`containers.files`) are rows whose bytes sit in the files
store under their own `cfile_` ids (`containers.file_bytes`), so they outlive the worker
whose code wrote them and count toward the project's `max_file_bytes` with its files (one
quota of what the files store keeps). A container expires once idle for longer than its
`expires_after` minutes: it is then still listed and read (status `expired`) and may be
deleted, but nothing is added to it or run in it, and the server's reaper soon drops its
files (`drop_expired_files`).

The HTTP API's operations take the `Database` and open their own transactions; the functions
that take a session (`get_container`, `create_container`...) are those the code_interpreter
integration calls inside a transaction of its own.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.containers.file_bytes import copy_in
from threadline.containers.models import Container, ContainerFile
from threadline.containers.schemas import CreateContainerBody
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import invalid
from threadline.files import service as files
from threadline.files.models import File
from threadline.files.storage import FileStorage

EXPIRES_MINUTES = 20
MEMORY_LIMIT = "1g"
# Threadline's sandbox has no network (docs/security.md): the one policy a container has.
NO_NETWORK = {"type": "disabled"}


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


# -- what the code_interpreter integration calls, inside its own transaction ------------------


async def get_container(session: AsyncSession, project_id: str, container_id: str) -> Container:
    """The project's container; 404 when there is none (or it is another project's)."""
    return await owned(session, Container, container_id, "container", project_id=project_id)


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
        row = await copy_in(session, storage, container, sources[file_id], taken)
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
