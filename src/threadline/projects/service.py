"""Projects and API keys: creating, listing, revoking, and resolving a key to its project."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from sqlalchemy import exists, select

from threadline import ids
from threadline.db.engine import Database
from threadline.projects.models import ApiKey, Project

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


async def project_id_for(db: Database, name: str) -> str:
    """The id of the project called `name`, created on first use."""
    async with db.write() as session:
        found = await session.scalar(select(Project.id).where(Project.name == name))
        if found:
            return found
        project_id, created_at = ids.mint(ids.PROJECT)
        session.add(Project(id=project_id, name=name, created_at=created_at))
        return project_id


async def create_key(db: Database, project: str) -> tuple[KeyInfo, str]:
    """A new key for `project`; the secret is returned once and only its hash is kept."""
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
            )
        )
    return KeyInfo(key_id, project, redacted, created_at, None), secret


async def list_keys(db: Database) -> list[KeyInfo]:
    async with db.read() as session:
        rows = await session.execute(
            select(ApiKey, Project.name)
            .join(Project, Project.id == ApiKey.project_id)
            .order_by(ApiKey.created_at, ApiKey.id)
        )
        return [
            KeyInfo(key.id, name, key.redacted, key.created_at, key.revoked_at)
            for key, name in rows.all()
        ]


async def revoke_key(db: Database, key_id: str) -> bool:
    """Revoke a key; False when there is no such key. Revoking twice is harmless."""
    async with db.write() as session:
        key = await session.get(ApiKey, key_id)
        if key is None:
            return False
        if key.revoked_at is None:
            key.revoked_at = int(time.time())
        return True


async def project_for_key(db: Database, secret: str) -> str | None:
    """The project of a live key, or None."""
    async with db.read() as session:
        return await session.scalar(
            select(ApiKey.project_id).where(
                ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None)
            )
        )


async def any_key_exists(db: Database) -> bool:
    async with db.read() as session:
        return bool(await session.scalar(select(exists().select_from(ApiKey))))
