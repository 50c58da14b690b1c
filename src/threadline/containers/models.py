"""Containers (the Responses API's code_interpreter sessions) and the files in them.

A container file's bytes live in the files store (`FileStorage`) under its own `cfile_` id,
the directory every API process and worker shares, so a container's files outlive the worker
whose code wrote them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, JsonType, Timestamp


class Container(Base):
    __tablename__ = "containers"
    # Listed by (created_at, id), all of a project's or those of one name.
    __table_args__ = (
        Index(None, "project_id", "created_at", "id"),
        Index(None, "project_id", "name", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(Timestamp)
    # Expiry is read, not stored: idle for longer than `expires_after_minutes` since this.
    last_active_at: Mapped[int] = mapped_column(Timestamp)
    expires_after_minutes: Mapped[int] = mapped_column(Integer, default=20)
    # Echoed as asked; the sandbox's real budget is the server's (containers/schemas.py).
    memory_limit: Mapped[str] = mapped_column(String(8), default="1g")
    network_policy: Mapped[dict[str, Any]] = mapped_column(JsonType)


class ContainerFile(Base):
    __tablename__ = "container_files"
    # One file per path in a container; listed by (created_at, id).
    __table_args__ = (
        UniqueConstraint("container_id", "path"),
        Index(None, "container_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    container_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("containers.id", ondelete="CASCADE")
    )
    # The container's project, so that storage quotas sum a project's bytes in one query.
    project_id: Mapped[str] = mapped_column(IdType, index=True)
    # `/mnt/data/<name>`.
    path: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    # "user": added through the API; "assistant": written by the code.
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(Timestamp)
