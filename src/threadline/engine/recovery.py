"""Runs that stopped with the process executing them: carried on, or ended when they keep
failing.

In one process, every run left unfinished is recovered at start. With workers apart
(`cluster/`), a worker recovers a run whose lease lapsed when it takes the run over.
"""

from __future__ import annotations

import time

from sqlalchemy import select

from threadline.db.engine import Database
from threadline.engine.emitter import Emitter
from threadline.engine.reader import RunReader
from threadline.engine.recorder import removal
from threadline.events.names import EventName
from threadline.runs.channels import RunQueue
from threadline.runs.models import Run

# A run found interrupted this many times is failed rather than tried again, so that a run
# that brings its process down cannot do so forever.
MAX_RECOVERIES = 2
UNFINISHED = ("queued", "in_progress", "cancelling")


async def recover_run(db: Database, reader: RunReader, emitter: Emitter, run: Run) -> bool:
    """Settle what an interrupted run left open: its step in flight fails, its message is
    removed, and the run is queued again (or fails, interrupted too often). True when the
    run is to be executed now.

    A message is stored with its text only when it completes: the text of one left open
    went down with the process. Such a message would be an empty answer beside the retried
    one, so it is removed (its failed step keeps its id, as a step does after a client
    deletes the message); one that somehow has content ends incomplete."""
    if run.status == "cancelling":
        return True
    now = int(time.time())
    events = []
    for message in await reader.open_messages(run.id):
        if not message.content:
            events.append(removal(message))
            continue
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
        return False
    if run.status == "in_progress":
        run.status = "queued"
        events.append((EventName.RUN_QUEUED, run))
    await emitter.emit(run.id, *events)
    async with db.write() as session:
        await session.execute(
            Run.__table__.update().where(Run.id == run.id).values(recoveries=Run.recoveries + 1)
        )
    return True


async def recover(db: Database, reader: RunReader, emitter: Emitter, queue: RunQueue) -> int:
    """On start of a single process: every run left unfinished is carried on or ended."""
    async with db.read() as session:
        stranded = list(await session.scalars(select(Run).where(Run.status.in_(UNFINISHED))))
    for run in stranded:
        if await recover_run(db, reader, emitter, run):
            await queue.submit(run.id)
    return len(stranded)
