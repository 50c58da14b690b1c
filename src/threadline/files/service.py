"""Files: upload, read, list, delete; and the existence checks other domains rely on.

Other domains refer to files (vector stores hold their chunks) and depend on this one, so
this one cannot call them when a file goes: they register `DeletionHooks` instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import BinaryIO

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.errors import QuotaExceeded, invalid, not_found
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.projects.service import storage_limit
from threadline.text import check_text

# The hosted API's default: batch input files expire after 30 days, others persist.
BATCH_EXPIRY_SECONDS = 30 * 24 * 3600


def _live(now: int | None = None) -> ColumnElement[bool]:
    """Files that have not expired; an expired file is gone, whether reaped yet or not."""
    return or_(File.expires_at.is_(None), File.expires_at > (now or int(time.time())))


async def create(
    db: Database,
    storage: FileStorage,
    project_id: str,
    source: BinaryIO,
    filename: str,
    purpose: str,
    expires_after_seconds: int | None,
) -> File:
    check_text(filename, "file")  # a multipart filename never passed the JSON check
    if expires_after_seconds is None and purpose == "batch":
        expires_after_seconds = BATCH_EXPIRY_SECONDS
    file_id, created_at = ids.mint(ids.FILE)
    size = await asyncio.to_thread(storage.save, file_id, source)
    row = File(
        id=file_id,
        project_id=project_id,
        created_at=created_at,
        filename=filename,
        bytes=size,
        purpose=purpose,
        status="processed",
        status_details=None,
        expires_at=created_at + expires_after_seconds if expires_after_seconds else None,
    )
    try:
        async with db.write() as session:
            await check_quota(session, project_id, size)
            session.add(row)
    except BaseException:
        storage.delete(file_id)
        raise
    return row


# Bytes that domains built on this one keep in the files store under the same quota (a
# container's files). This domain cannot import them, so each registers its count when it is
# imported (`app.py` imports them all).
StoredBytes = Callable[[AsyncSession, str], Awaitable[int]]
_stored_elsewhere: list[StoredBytes] = []


def count_stored_bytes(counter: StoredBytes) -> None:
    """Count `counter(session, project_id)` bytes against `max_file_bytes` too."""
    if counter not in _stored_elsewhere:
        _stored_elsewhere.append(counter)


async def bytes_used(session: AsyncSession, project_id: str) -> int:
    """The bytes the project keeps in the files store: its live files, and what other
    domains keep there (`count_stored_bytes`)."""
    used = await session.scalar(
        select(func.coalesce(func.sum(File.bytes), 0)).where(File.project_id == project_id, _live())
    )
    total = int(used or 0)
    for counter in _stored_elsewhere:
        total += await counter(session, project_id)
    return total


async def check_quota(
    session: AsyncSession, project_id: str, size: int, param: str = "file"
) -> None:
    """400 when `size` more bytes would exceed the project's `max_file_bytes`: the one check
    of everything kept in the files store (files, container files)."""
    limit = await storage_limit(session, project_id, "max_file_bytes")
    if limit is None:
        return
    used = await bytes_used(session, project_id)
    if used + size > limit:
        raise QuotaExceeded(
            f"Storage quota exceeded: this project may keep at most {limit} bytes of files "
            f"(max_file_bytes); {used} are used, and this file has {size}.",
            param=param,
        )


async def get(session: AsyncSession, project_id: str, file_id: str) -> File:
    row = await session.scalar(
        select(File).where(File.id == file_id, File.project_id == project_id, _live())
    )
    if row is None:
        raise not_found("file", file_id)
    return row


async def retrieve(db: Database, project_id: str, file_id: str) -> File:
    async with db.read() as session:
        return await get(session, project_id, file_id)


async def list_files(
    db: Database, project_id: str, page: PageQuery, purpose: str | None
) -> tuple[list[File], bool]:
    where = [File.project_id == project_id, _live()]
    if purpose:
        where.append(File.purpose == purpose)
    async with db.read() as session:
        return await fetch_page(session, File, where, page)


# Removes what refers to a deleted file, in the transaction that deletes it.
OnFileDeleted = Callable[[AsyncSession, str], Awaitable[None]]


class DeletionHooks:
    """What else goes when a file is deleted: set up once at app start by the domains that
    refer to files; this one only calls them with `(session, file_id)`."""

    def __init__(self) -> None:
        self._hooks: list[OnFileDeleted] = []

    def register(self, hook: OnFileDeleted) -> None:
        self._hooks.append(hook)

    async def run(self, session: AsyncSession, file_id: str) -> None:
        for hook in self._hooks:
            await hook(session, file_id)


async def delete_file(
    db: Database, storage: FileStorage, hooks: DeletionHooks, project_id: str, file_id: str
) -> None:
    """Delete the file, what refers to it (`hooks`, in the same transaction) and its bytes."""
    async with db.write() as session:
        row = await get(session, project_id, file_id)
        await hooks.run(session, file_id)
        await session.delete(row)
    storage.delete(file_id)


async def require_files(
    session: AsyncSession, project_id: str, refs: Sequence[tuple[str, str]]
) -> None:
    """400 naming the first `(file_id, param)` reference that is not a live project file."""
    if not refs:
        return
    wanted = {file_id for file_id, _ in refs}
    found = set(
        await session.scalars(
            select(File.id).where(File.id.in_(wanted), File.project_id == project_id, _live())
        )
    )
    for file_id, param in refs:
        if file_id not in found:
            raise invalid(f"No file found with id '{file_id}'.", param=param)


async def reap_expired(db: Database, storage: FileStorage, hooks: DeletionHooks) -> int:
    """Delete expired files, what refers to them (`hooks`) and their bytes; the number
    removed."""
    now = int(time.time())
    async with db.write() as session:
        expired = list(
            await session.scalars(select(File.id).where(File.expires_at <= now).limit(1000))
        )
        for file_id in expired:
            await hooks.run(session, file_id)
        if expired:
            await session.execute(delete(File).where(File.id.in_(expired)))
    for file_id in expired:
        storage.delete(file_id)
    return len(expired)
