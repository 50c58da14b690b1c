from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, Timestamp


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        Index(None, "project_id", "created_at", "id"),
        Index(None, "project_id", "purpose", "created_at", "id"),
        Index(None, "expires_at"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"))
    created_at: Mapped[int] = mapped_column(Timestamp)
    filename: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    status_details: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[int | None] = mapped_column(Timestamp)
