"""Runs that nobody is advancing: expired waits, and runs a restart found unfinished."""

from __future__ import annotations

import time

from sqlalchemy import select

from threadline.db.engine import Database
from threadline.engine.dispatch import Dispatcher
from threadline.engine.emitter import Emitter
from threadline.runs import lifecycle
from threadline.runs.models import Run

# A run found unfinished this many times is failed rather than tried again, so that a run
# that brings the server down cannot do so forever.
MAX_RECOVERIES = 2


async def expire_overdue(db: Database, emitter: Emitter) -> int:
    """Runs waiting in `requires_action` past `expires_at` become `expired`."""
    now = int(time.time())
    async with db.read() as session:
        overdue = list(
            await session.scalars(
                select(Run).where(Run.status == "requires_action", Run.expires_at <= now)
            )
        )
    for run in overdue:
        steps = await emitter.store.open_steps(run.id)
        events = []
        for step in steps:
            step.status, step.expired_at = "expired", now
            events.append(("thread.run.step.expired", step))
        run.status = "expired"
        run.required_action = None
        events.append(("thread.run.expired", run))
        try:
            await emitter.emit(run.id, *events)
        except lifecycle.IllegalTransition:
            continue  # tool outputs or a cancel got there first
    return len(overdue)


async def recover(db: Database, emitter: Emitter, dispatcher: Dispatcher) -> int:
    """On start: every run left queued, in progress or cancelling is carried on or ended."""
    async with db.read() as session:
        stranded = list(
            await session.scalars(
                select(Run).where(Run.status.in_(("queued", "in_progress", "cancelling")))
            )
        )
    now = int(time.time())
    for run in stranded:
        if run.status == "cancelling":
            dispatcher.submit(run.id)
            continue
        events = []
        for message in await emitter.store.open_messages(run.id):
            message.status, message.incomplete_at = "incomplete", now
            message.incomplete_details = {"reason": "run_failed"}
            events.append(("thread.message.incomplete", message))
        for step in await emitter.store.open_steps(run.id):
            step.status, step.failed_at = "failed", now
            step.last_error = {
                "code": "server_error",
                "message": "The server stopped while this step was in progress.",
            }
            events.append(("thread.run.step.failed", step))
        if run.recoveries >= MAX_RECOVERIES:
            run.status, run.failed_at, run.expires_at = "failed", now, None
            run.last_error = {
                "code": "server_error",
                "message": "The server stopped repeatedly while this run was in progress.",
            }
            events.append(("thread.run.failed", run))
            await emitter.emit(run.id, *events)
            continue
        if run.status == "in_progress":
            run.status = "queued"
            events.append(("thread.run.queued", run))
        await emitter.emit(run.id, *events)
        async with db.write() as session:
            await session.execute(
                Run.__table__.update().where(Run.id == run.id).values(recoveries=Run.recoveries + 1)
            )
        dispatcher.submit(run.id)
    return len(stranded)
