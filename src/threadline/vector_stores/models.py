"""Vector stores, the files in them, file batches, and the chunks search reads.

A store's status, file counts and usage are derived from its files when read; a batch's
status and counts likewise from the files it added.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, JsonType, Timestamp


class VectorStore(Base):
    __tablename__ = "vector_stores"
    __table_args__ = (Index(None, "project_id", "created_at", "id"), Index(None, "expires_at"))

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"))
    created_at: Mapped[int] = mapped_column(Timestamp)
    name: Mapped[str] = mapped_column(Text)
    # Kept, not returned: the VectorStore object of the spec and the SDKs has no such field.
    description: Mapped[str | None] = mapped_column(Text)
    expires_after: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    expires_at: Mapped[int | None] = mapped_column(Timestamp)
    last_active_at: Mapped[int | None] = mapped_column(Timestamp)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType)
    # The embedding model and width its chunks were embedded with (set by the first file).
    embedder: Mapped[str | None] = mapped_column(String(128))
    dimensions: Mapped[int | None] = mapped_column(Integer)


class VectorStoreFile(Base):
    __tablename__ = "vector_store_files"
    __table_args__ = (
        Index(None, "vector_store_id", "created_at", "id"),
        Index(None, "batch_id", "created_at", "id"),
        Index(None, "status"),
        Index(None, "id"),
    )

    vector_store_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("vector_stores.id", ondelete="CASCADE"), primary_key=True
    )
    # The file's id: a file is in a store at most once.
    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    created_at: Mapped[int] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16))
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    usage_bytes: Mapped[int] = mapped_column(Integer, default=0)
    chunking_strategy: Mapped[dict[str, Any]] = mapped_column(JsonType)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    batch_id: Mapped[str | None] = mapped_column(IdType)


class FileBatch(Base):
    __tablename__ = "vector_store_file_batches"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    vector_store_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("vector_stores.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[int] = mapped_column(Timestamp)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class Chunk(Base):
    """A passage of a file in a store. The vector and keyword indexes refer to its id."""

    __tablename__ = "chunks"
    __table_args__ = (Index(None, "vector_store_id", "file_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vector_store_id: Mapped[str] = mapped_column(
        IdType, ForeignKey("vector_stores.id", ondelete="CASCADE")
    )
    file_id: Mapped[str] = mapped_column(IdType)
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer)
    # The vector itself, for PostgreSQL without pgvector (exact search); elsewhere the
    # vector lives in the index (sqlite-vec, pgvector) and this stays empty.
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
