"""Threads and their messages. Deleting a thread deletes its messages, runs and steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, JsonType, Timestamp


class Thread(Base):
    __tablename__ = "threads"
    # The thread list (a Threadline extension) pages a project's threads from this index.
    __table_args__ = (Index(None, "project_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"), index=True)
    created_at: Mapped[int] = mapped_column(Timestamp)
    tool_resources: Mapped[dict[str, Any]] = mapped_column(JsonType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType)
    # A thread made to hold responses outside any conversation (`previous_response_id`
    # chains): not listed among the project's threads.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index(None, "thread_id", "created_at", "id"),
        Index(None, "run_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    thread_id: Mapped[str] = mapped_column(IdType, ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(Timestamp)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[list[Any]] = mapped_column(JsonType)
    attachments: Mapped[list[Any] | None] = mapped_column(JsonType)
    assistant_id: Mapped[str | None] = mapped_column(IdType)
    run_id: Mapped[str | None] = mapped_column(IdType)
    status: Mapped[str] = mapped_column(String(16))
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    completed_at: Mapped[int | None] = mapped_column(Timestamp)
    incomplete_at: Mapped[int | None] = mapped_column(Timestamp)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType)
