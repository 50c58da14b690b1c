"""Direct access to the store, for what the API cannot do yet or on purpose: creating API
keys the way the CLI does, and inserting runs, steps and messages as the run engine (or an
earlier version) would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import threadline.tables  # noqa: F401 - every table known to the ORM
from threadline import ids
from threadline.db.engine import Database
from threadline.projects import service as projects
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message

T = TypeVar("T")


def with_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def create_key(url: str, project: str) -> str:
    return with_db(url, lambda db: projects.create_key(db, project))[1]


def run_fields(thread_id: str, assistant_id: str, **overrides: Any) -> dict[str, Any]:
    run_id, created_at = ids.mint(ids.RUN)
    fields: dict[str, Any] = {
        "id": run_id,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "created_at": created_at,
        "status": "completed",
        "required_action": None,
        "last_error": None,
        "expires_at": None,
        "started_at": created_at,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": created_at,
        "incomplete_details": None,
        "model": "gpt-4o",
        "instructions": "",
        "tools": [],
        "metadata_": {},
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        "temperature": 1.0,
        "top_p": 1.0,
        "max_prompt_tokens": None,
        "max_completion_tokens": None,
        "truncation_strategy": {"type": "auto", "last_messages": None},
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "response_format": "auto",
        "reasoning_effort": None,
    }
    fields.update(overrides)
    return fields


def step_fields(run: dict[str, Any], step_details: dict[str, Any], **overrides: Any):
    step_id, created_at = ids.mint(ids.STEP)
    fields: dict[str, Any] = {
        "id": step_id,
        "run_id": run["id"],
        "thread_id": run["thread_id"],
        "assistant_id": run["assistant_id"],
        "created_at": created_at,
        "type": step_details["type"],
        "status": "completed",
        "step_details": step_details,
        "last_error": None,
        "expired_at": None,
        "cancelled_at": None,
        "failed_at": None,
        "completed_at": created_at,
        "metadata_": {},
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }
    fields.update(overrides)
    return fields


def message_fields(thread_id: str, text: str | None, **overrides: Any) -> dict[str, Any]:
    """A completed user message with `text` (no content at all for None)."""
    message_id, created_at = ids.mint(ids.MESSAGE)
    content = [] if text is None else [{"type": "text", "text": {"value": text, "annotations": []}}]
    fields: dict[str, Any] = {
        "id": message_id,
        "thread_id": thread_id,
        "created_at": created_at,
        "role": "user",
        "content": content,
        "attachments": [],
        "assistant_id": None,
        "run_id": None,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created_at,
        "incomplete_at": None,
        "metadata_": {},
    }
    fields.update(overrides)
    return fields


def insert(url: str, *rows: tuple[type, dict[str, Any]]) -> None:
    """Insert (model, fields) rows in one transaction."""

    async def work(db: Database) -> None:
        async with db.write() as session:
            for model, fields in rows:
                session.add(model(**fields))
                await session.flush()

    with_db(url, work)


__all__ = [
    "Message",
    "Run",
    "RunStep",
    "create_key",
    "insert",
    "message_fields",
    "run_fields",
    "step_fields",
    "with_db",
]
