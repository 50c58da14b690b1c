"""Runs and run steps: reads, listing and metadata changes.

The run engine that creates and advances runs builds on these lookups.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.http.errors import not_found
from threadline.runs.models import Run, RunStep
from threadline.runs.schemas import ModifyRunRequest
from threadline.threads.service import get_thread


async def get_run(session: AsyncSession, project_id: str, thread_id: str, run_id: str) -> Run:
    await get_thread(session, project_id, thread_id)
    row = await session.get(Run, run_id)
    if row is None or row.thread_id != thread_id:
        raise not_found("run", run_id)
    return row


async def retrieve_run(db: Database, project_id: str, thread_id: str, run_id: str) -> Run:
    async with db.read() as session:
        return await get_run(session, project_id, thread_id, run_id)


async def modify_run(
    db: Database, project_id: str, thread_id: str, run_id: str, body: ModifyRunRequest
) -> Run:
    async with db.write() as session:
        row = await get_run(session, project_id, thread_id, run_id)
        if "metadata" in body.given():
            row.metadata_ = body.metadata or {}
    return row


async def list_runs(
    db: Database, project_id: str, thread_id: str, page: PageQuery
) -> tuple[list[Run], bool]:
    async with db.read() as session:
        await get_thread(session, project_id, thread_id)
        return await fetch_page(session, Run, [Run.thread_id == thread_id], page)


async def list_steps(
    db: Database, project_id: str, thread_id: str, run_id: str, page: PageQuery
) -> tuple[list[RunStep], bool]:
    async with db.read() as session:
        await get_run(session, project_id, thread_id, run_id)
        return await fetch_page(session, RunStep, [RunStep.run_id == run_id], page)


async def retrieve_step(
    db: Database, project_id: str, thread_id: str, run_id: str, step_id: str
) -> RunStep:
    async with db.read() as session:
        await get_run(session, project_id, thread_id, run_id)
        row = await session.get(RunStep, step_id)
        if row is None or row.run_id != run_id:
            raise not_found("run step", step_id)
        return row
