"""The bytes of container files: written to the files store under the file's own `cfile_`
id, removed again when the transaction that adds its row rolls back, copied from a project
file, and counted toward the project's `max_file_bytes` with its files.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.containers.models import Container, ContainerFile
from threadline.containers.paths import upload_path
from threadline.files import service as files
from threadline.files.models import File
from threadline.files.storage import FileStorage

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


async def save_new(session: AsyncSession, storage: FileStorage, file_id: str, save: Any) -> int:
    """Run `save()` (which writes the bytes of the new file `file_id`) off the event loop,
    its bytes removed again if it or the transaction fails."""
    _discard_on_rollback(session, storage, file_id)
    try:
        return await asyncio.to_thread(save)
    except BaseException:
        storage.delete(file_id)
        raise


def copy_bytes(storage: FileStorage, source_id: str, file_id: str) -> int:
    with storage.path(source_id).open("rb") as source:
        return storage.save(file_id, source)


async def copy_in(
    session: AsyncSession,
    storage: FileStorage,
    container: Container,
    source: File,
    taken: set[str],
) -> ContainerFile:
    """A copy of the project file `source` in the container, added by the user."""
    file_id, created_at = ids.mint(ids.CONTAINER_FILE)
    size = await save_new(
        session, storage, file_id, lambda: copy_bytes(storage, source.id, file_id)
    )
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


async def _container_bytes(session: AsyncSession, project_id: str) -> int:
    used = await session.scalar(
        select(func.coalesce(func.sum(ContainerFile.bytes), 0)).where(
            ContainerFile.project_id == project_id
        )
    )
    return int(used or 0)


# Container files count toward the project's `max_file_bytes` with its files.
files.count_stored_bytes(_container_bytes)
