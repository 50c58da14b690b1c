"""Runs and run steps. A thread has at most one active run; the database enforces it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db.base import Base, IdType, JsonType, Timestamp
from threadline.run_status import ACTIVE_STATUSES, TERMINAL_STATUSES

__all__ = ["ACTIVE_STATUSES", "TERMINAL_STATUSES", "Run", "RunStep"]

_ACTIVE = text("status IN ('queued', 'in_progress', 'requires_action', 'cancelling')")


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index(None, "thread_id", "created_at", "id"),
        # Two concurrent run creations on one thread: the second insert fails here.
        Index(
            "uq_runs_active_thread",
            "thread_id",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    thread_id: Mapped[str] = mapped_column(IdType, ForeignKey("threads.id", ondelete="CASCADE"))
    assistant_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16))
    required_action: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    expires_at: Mapped[int | None] = mapped_column(Timestamp)
    started_at: Mapped[int | None] = mapped_column(Timestamp)
    cancelled_at: Mapped[int | None] = mapped_column(Timestamp)
    failed_at: Mapped[int | None] = mapped_column(Timestamp)
    completed_at: Mapped[int | None] = mapped_column(Timestamp)
    incomplete_details: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    model: Mapped[str] = mapped_column(String(256))
    instructions: Mapped[str] = mapped_column(Text)
    tools: Mapped[list[Any]] = mapped_column(JsonType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    temperature: Mapped[float | None] = mapped_column(Float)
    top_p: Mapped[float | None] = mapped_column(Float)
    max_prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    max_completion_tokens: Mapped[int | None] = mapped_column(Integer)
    truncation_strategy: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    tool_choice: Mapped[Any] = mapped_column(JsonType, nullable=True)
    parallel_tool_calls: Mapped[bool] = mapped_column(Boolean)
    response_format: Mapped[Any] = mapped_column(JsonType, nullable=True)
    reasoning_effort: Mapped[str | None] = mapped_column(String(16))
    # The key that created the run (None in local mode): its tokens count against that
    # key's own tokens-per-minute limit, if it has one.
    api_key_id: Mapped[str | None] = mapped_column(IdType)
    # How often a restart found this run unfinished and picked it up again.
    recoveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # `run` (the Assistants API's) or `response` (the Responses API's, `responses/`): the
    # same engine runs both; a response's function calls end it rather than pause it.
    kind: Mapped[str] = mapped_column(String(16), default="run", server_default="run")


class RunStep(Base):
    __tablename__ = "run_steps"
    __table_args__ = (
        Index(None, "run_id", "created_at", "id"),
        # Prompt assembly reads a thread's tool calls alongside its messages.
        Index(None, "thread_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True)
    run_id: Mapped[str] = mapped_column(IdType, ForeignKey("runs.id", ondelete="CASCADE"))
    thread_id: Mapped[str] = mapped_column(IdType)
    assistant_id: Mapped[str] = mapped_column(IdType)
    created_at: Mapped[int] = mapped_column(Timestamp)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    step_details: Mapped[dict[str, Any]] = mapped_column(JsonType)
    last_error: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    expired_at: Mapped[int | None] = mapped_column(Timestamp)
    cancelled_at: Mapped[int | None] = mapped_column(Timestamp)
    failed_at: Mapped[int | None] = mapped_column(Timestamp)
    completed_at: Mapped[int | None] = mapped_column(Timestamp)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonType)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # For calls Threadline ran itself, by call id, what the model exchanged with the tool
    # ({"arguments", "output"}) beyond the step's wire form: later prompts show it again.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
