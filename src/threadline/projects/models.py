"""Projects own every object; API keys belong to a project and are stored hashed."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, Timestamp


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    created_at: Mapped[int] = mapped_column(Timestamp)
    # Limits (docs/security.md); None: no limit. Rates are per minute.
    requests_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    max_file_bytes: Mapped[int | None] = mapped_column(BigInteger)
    max_vector_stores: Mapped[int | None] = mapped_column(Integer)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    project_id: Mapped[str] = mapped_column(IdType, ForeignKey("projects.id"), index=True)
    # SHA-256 of the whole key: keys are long random strings, so a fast hash suffices.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first and last characters, for telling keys apart in `keys list`.
    redacted: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[int] = mapped_column(Timestamp)
    revoked_at: Mapped[int | None] = mapped_column(Timestamp)
    # A key's own rates, on top of its project's; None: only the project's.
    requests_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger)
