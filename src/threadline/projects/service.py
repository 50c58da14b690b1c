"""Projects and API keys: creating, listing, revoking, resolving a key to its project, and
the limits of projects and keys (docs/security.md)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.db.engine import Database
from threadline.projects.models import ApiKey, Project
from threadline.ratelimit.limiter import Subject

log = logging.getLogger("threadline.keys")

DEFAULT_PROJECT = "default"
KEY_PREFIX = "sk-tl-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    id: str
    project: str
    redacted: str
    created_at: int
    revoked_at: int | None
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None


@dataclass(frozen=True)
class ProjectLimits:
    """A project's limits; None: no limit (the default)."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_file_bytes: int | None = None
    max_vector_stores: int | None = None


LIMITS = tuple(item.name for item in fields(ProjectLimits))
KEY_LIMITS = ("requests_per_minute", "tokens_per_minute")


@dataclass(frozen=True)
class Caller:
    """Whom a request acts for: its project, its key (None in local mode), and the rate
    limits that bind it (the project's and the key's own, those that are set)."""

    project_id: str
    key_id: str | None
    subjects: tuple[Subject, ...] = ()


def subjects(
    project_id: str, project: tuple[Any, Any], key_id: str | None, key: tuple[Any, Any]
) -> tuple[Subject, ...]:
    found = []
    if any(value is not None for value in project):
        found.append(Subject("project", project_id, *project))
    if key_id is not None and any(value is not None for value in key):
        found.append(Subject("key", key_id, *key))
    return tuple(found)


async def project_id_for(db: Database, name: str) -> str:
    """The id of the project called `name`, created on first use."""
    async with db.write() as session:
        found = await session.scalar(select(Project.id).where(Project.name == name))
        if found:
            return found
        project_id, created_at = ids.mint(ids.PROJECT)
        session.add(Project(id=project_id, name=name, created_at=created_at))
        return project_id


async def create_key(
    db: Database,
    project: str,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
) -> tuple[KeyInfo, str]:
    """A new key for `project`, with its own rate limits if given; the secret is returned
    once and only its hash is kept."""
    project_id = await project_id_for(db, project)
    secret = KEY_PREFIX + ids.random_string(48)
    key_id, created_at = ids.mint(ids.API_KEY)
    redacted = f"{secret[:10]}...{secret[-4:]}"
    async with db.write() as session:
        session.add(
            ApiKey(
                id=key_id,
                project_id=project_id,
                key_hash=hash_key(secret),
                redacted=redacted,
                created_at=created_at,
                requests_per_minute=requests_per_minute,
                tokens_per_minute=tokens_per_minute,
            )
        )
    info = KeyInfo(key_id, project, redacted, created_at, None,
                   requests_per_minute, tokens_per_minute)  # fmt: skip
    log.info("created key %s for project %s", key_id, project)
    return info, secret


def _key_info(key: ApiKey, project: str) -> KeyInfo:
    return KeyInfo(key.id, project, key.redacted, key.created_at, key.revoked_at,
                   key.requests_per_minute, key.tokens_per_minute)  # fmt: skip


async def list_keys(db: Database) -> list[KeyInfo]:
    async with db.read() as session:
        rows = await session.execute(
            select(ApiKey, Project.name)
            .join(Project, Project.id == ApiKey.project_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        return [_key_info(key, name) for key, name in rows.all()]


async def revoke_key(db: Database, key_id: str) -> bool:
    """Revoke a key; False when there is no such key. Revoking twice is harmless."""
    async with db.write() as session:
        key = await session.get(ApiKey, key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            key.revoked_at = int(time.time())
            log.info("revoked key %s", key_id)
        return True


async def caller_for_key(db: Database, secret: str) -> Caller | None:
    """The project, key and rate limits of a live key (one query), or None."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(
                    ApiKey.id,
                    ApiKey.requests_per_minute,
                    ApiKey.tokens_per_minute,
                    Project.id,
                    Project.requests_per_minute,
                    Project.tokens_per_minute,
                )
                .join(Project, Project.id == ApiKey.project_id)
                .where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
            )
        ).first()
    if row is None:
        return None
    key_id, key_rpm, key_tpm, project_id, project_rpm, project_tpm = row
    found = subjects(project_id, (project_rpm, project_tpm), key_id, (key_rpm, key_tpm))
    return Caller(project_id, key_id, found)


async def caller_for_project(db: Database, project_id: str) -> Caller:
    """A request without a key (local mode): the project's own limits bind it."""
    return Caller(project_id, None, await rate_subjects(db, project_id, None))


async def rate_subjects(db: Database, project_id: str, key_id: str | None) -> tuple[Subject, ...]:
    """The rate limits that bind a project and (if given) one of its keys."""
    async with db.read() as session:
        project = (
            await session.execute(
                select(Project.requests_per_minute, Project.tokens_per_minute).where(
                    Project.id == project_id
                )
            )
        ).first()
        key = None
        if key_id is not None:
            key = (
                await session.execute(
                    select(ApiKey.requests_per_minute, ApiKey.tokens_per_minute).where(
                        ApiKey.id == key_id
                    )
                )
            ).first()
    return subjects(project_id, tuple(project or (None, None)), key_id, tuple(key or (None, None)))


# -- limits ------------------------------------------------------------------------------------


async def project_limits(db: Database, name: str) -> tuple[str, ProjectLimits] | None:
    """The id and limits of the project called `name`, or None."""
    async with db.read() as session:
        project = await session.scalar(select(Project).where(Project.name == name))
        if project is None:
            return None
        return project.id, ProjectLimits(*(getattr(project, item) for item in LIMITS))


async def list_projects(db: Database) -> list[tuple[str, str, ProjectLimits]]:
    """(name, id, limits) of every project, by name."""
    async with db.read() as session:
        rows = await session.scalars(select(Project).order_by(Project.name))
        return [
            (row.name, row.id, ProjectLimits(*(getattr(row, item) for item in LIMITS)))
            for row in rows
        ]


async def set_project_limits(
    db: Database, name: str, changes: dict[str, int | None]
) -> tuple[str, ProjectLimits]:
    """Set (an int) or remove (None) the limits in `changes` of the project called `name`
    (created if new); its id and limits afterwards."""
    unknown = set(changes) - set(LIMITS)
    assert not unknown, unknown
    project_id = await project_id_for(db, name)
    async with db.write() as session:
        project = await session.get(Project, project_id)
        assert project is not None
        for item, value in changes.items():
            setattr(project, item, value)
        return project_id, ProjectLimits(*(getattr(project, item) for item in LIMITS))


async def set_key_limits(
    db: Database, key_id: str, changes: dict[str, int | None]
) -> KeyInfo | None:
    """Set or remove a key's own rate limits; None when there is no such key."""
    unknown = set(changes) - set(KEY_LIMITS)
    assert not unknown, unknown
    async with db.write() as session:
        row = (
            await session.execute(
                select(ApiKey, Project.name)
                .join(Project, Project.id == ApiKey.project_id)
                .where(ApiKey.id == key_id)
            )
        ).first()
        if row is None:
            return None
        key, project = row
        for item, value in changes.items():
            setattr(key, item, value)
        return _key_info(key, project)


async def storage_limit(session: AsyncSession, project_id: str, name: str) -> int | None:
    """A storage quota of the project (`max_file_bytes`, `max_vector_stores`), None when it
    has none. When it has one the project's row is locked until the transaction ends
    (PostgreSQL; SQLite's writers take turns anyway), so that what two requests add at once
    is counted one after the other."""
    column = getattr(Project, name)
    where = Project.id == project_id
    if await session.scalar(select(column).where(where)) is None:
        return None
    return await session.scalar(select(column).where(where).with_for_update())


async def any_key_exists(db: Database) -> bool:
    async with db.read() as session:
        return bool(await session.scalar(select(exists().select_from(ApiKey))))
