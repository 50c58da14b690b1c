"""What a response has beyond its run (`runs.kind = 'response'`, the same id body: `resp_X`
is `run_X`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, JsonType, Timestamp


class Response(Base):
    __tablename__ = "responses"
    __table_args__ = (Index(None, "project_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"))
    run_id: Mapped[str] = mapped_column(IdType, ForeignKey("runs.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(Timestamp)
    # The conversation it belongs to (`conv_...`), when it was made in one.
    conversation_id: Mapped[str | None] = mapped_column(IdType)
    previous_response_id: Mapped[str | None] = mapped_column(IdType)
    store: Mapped[bool] = mapped_column(Boolean)
    background: Mapped[bool] = mapped_column(Boolean)
    instructions: Mapped[str | None] = mapped_column(Text)
    # The ids of its input items, in order (`GET /responses/{id}/input_items`).
    input_items: Mapped[list[Any]] = mapped_column(JsonType)
    # The request's fields that are echoed back (`text`, `truncation`, `user`, ...).
    options: Mapped[dict[str, Any]] = mapped_column(JsonType)
