"""The thread a new response runs on: its own hidden one, or the one of the response it
continues (or a copy of its context, when it branches off)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.conversations import items as mapping
from threadline.conversations import service as conversations
from threadline.errors import invalid
from threadline.responses.models import Response
from threadline.run_status import ACTIVE_STATUSES
from threadline.runs.models import Run
from threadline.threads import service as threads
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import CreateThreadRequest


async def hidden_thread(session: AsyncSession, project_id: str) -> Thread:
    thread = await threads.insert_thread(session, project_id, CreateThreadRequest())
    thread.hidden = True
    return thread


async def continuing(
    session: AsyncSession, project_id: str, previous_id: str, branch: bool = False
) -> Thread:
    """The thread a response continuing `previous_id` runs on: the previous one's, when it
    is a hidden thread whose latest response that is (and `branch` does not ask for a copy);
    else a new hidden thread holding the context up to the end of the previous response."""
    previous = await session.get(Response, previous_id)
    if previous is None or previous.project_id != project_id:
        raise invalid(
            f"Previous response with id '{previous_id}' not found.",
            param="previous_response_id",
        )
    run = await session.get(Run, previous.run_id)
    if run is None or run.status in ACTIVE_STATUSES:
        raise invalid(
            f"Previous response {previous_id} is still in progress: wait for it to end.",
            param="previous_response_id",
        )
    thread = await session.get(Thread, previous.thread_id)
    assert thread is not None
    latest = await session.scalar(
        select(Run.id).where(Run.thread_id == thread.id).order_by(Run.id.desc()).limit(1)
    )
    if thread.hidden and latest == run.id and not branch:
        return thread
    copy = await hidden_thread(session, project_id)
    await copy_context(session, thread, previous, run, copy)
    return copy


async def copy_context(
    session: AsyncSession, source: Thread, previous: Response, run: Run, target: Thread
) -> None:
    """The items of `source` up to the end of the previous response, into `target`: its
    messages as messages, its runs' function calls and outputs as added items."""
    own = list(await session.scalars(select(Message.id).where(Message.run_id == run.id)))
    bound = max([*(mapping.position(i) for i in previous.input_items), *map(mapping.position, own)])
    found, _ = await conversations.items_of(
        session, source, conversations.ItemPage(limit=100_000, order="asc")
    )
    for item in found:
        if mapping.position(item["id"]) > bound:
            break
        param = conversations.as_param(item)
        if param is None:
            continue
        await conversations.add_items(session, target.project_id, target, [param], "input")
