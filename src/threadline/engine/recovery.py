"""Runs a restart found unfinished: carried on, or ended when they keep failing."""

from __future__ import annotations

import time

from sqlalchemy import select

from threadline.db.engine import Database
from threadline.engine.emitter import Emitter
from threadline.engine.reader import RunReader
from threadline.events.names import EventName
from threadline.runs.channels import RunQueue
from threadline.runs.models import Run

# A run found unfinished this many times is failed rather than tried again, so that a run
# that brings the server down cannot do so forever.
MAX_RECOVERIES = 2


async def recover(db: Database, reader: RunReader, emitter: Emitter, queue: RunQueue) -> int:
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
            await queue.submit(run.id)
            continue
        events = []
        for message in await reader.open_messages(run.id):
            message.status, message.incomplete_at = "incomplete", now
            message.incomplete_details = {"reason": "run_failed"}
            events.append((EventName.MESSAGE_INCOMPLETE, message))
        for step in await reader.open_steps(run.id):
            step.status, step.failed_at = "failed", now
            step.last_error = {
                "code": "server_error",
                "message": "The server stopped while this step was in progress.",
            }
            events.append((EventName.STEP_FAILED, step))
        if run.recoveries >= MAX_RECOVERIES:
            run.status, run.failed_at, run.expires_at = "failed", now, None
            run.last_error = {
                "code": "server_error",
                "message": "The server stopped repeatedly while this run was in progress.",
            }
            events.append((EventName.RUN_FAILED, run))
            await emitter.emit(run.id, *events)
            continue
        if run.status == "in_progress":
            run.status = "queued"
            events.append((EventName.RUN_QUEUED, run))
        await emitter.emit(run.id, *events)
        async with db.write() as session:
            await session.execute(
                Run.__table__.update().where(Run.id == run.id).values(recoveries=Run.recoveries + 1)
            )
        await queue.submit(run.id)
    return len(stranded)
