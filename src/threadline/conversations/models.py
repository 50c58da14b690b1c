"""Items of a conversation that are neither a thread's messages nor a run's steps: function
calls and their outputs that a client added (to a conversation, or as a response's input).
A thread's messages and its runs' tool calls are items too, read from their own tables
(`conversations/items.py`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, JsonType, Timestamp


class ConversationItem(Base):
    __tablename__ = "conversation_items"
    # A conversation's items are listed by their place; a call's output is found by its call.
    __table_args__ = (
        Index(None, "thread_id", "position"),
        Index(None, "thread_id", "call_id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    thread_id: Mapped[str] = mapped_column(IdType, ForeignKey("threads.id", ondelete="CASCADE"))
    created_at: Mapped[int] = mapped_column(Timestamp)
    # Where the item sits among the thread's messages and calls (`items.position`).
    position: Mapped[str] = mapped_column(IdType)
    type: Mapped[str] = mapped_column(String(32))
    call_id: Mapped[str | None] = mapped_column(String(64))
    # The item's own fields as the API gave them (name, arguments, output, status).
    data: Mapped[dict[str, Any]] = mapped_column(JsonType)


class Compaction(Base):
    """A summary the model wrote of a context (`POST /responses/compact`). A `compaction`
    item's `encrypted_content` is an opaque reference to it (`conversations/compactions.py`)."""

    __tablename__ = "compactions"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"))
    created_at: Mapped[int] = mapped_column(Timestamp)
    model: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    # The context's user messages (their text), given to the model with the summary.
    user_messages: Mapped[list[Any]] = mapped_column(JsonType)
