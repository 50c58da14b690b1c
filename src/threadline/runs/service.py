"""Runs and run steps: the rules for creating, steering, reading and listing them.

The service stores what a request changes, announces it on the bus and hands the run to the
run queue (`runs/channels.py`); the engine (`threadline.engine`) advances runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.assistants import service as assistants
from threadline.assistants.schemas import response_format_to_wire
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.db.lookup import owned
from threadline.errors import InvalidRequest, invalid, not_found
from threadline.events.bus import EventBus, Subscription
from threadline.events.names import EventName
from threadline.runs import announce, lifecycle
from threadline.runs.channels import RunChannels
from threadline.runs.models import ACTIVE_STATUSES, Run, RunStep
from threadline.runs.schemas import (
    AUTO_TRUNCATION,
    CreateRunRequest,
    CreateThreadAndRunRequest,
    ModifyRunRequest,
    NamedToolChoice,
    RunOptions,
    SubmitToolOutputsRequest,
)
from threadline.threads.schemas import CreateThreadRequest
from threadline.threads.service import active_run_id, add_message, get_thread, insert_thread
from threadline.tools import resources
from threadline.tools.schemas import tool_to_wire

# A run waiting for tool outputs expires this long after it was created (by default; the
# setting THREADLINE_RUN_EXPIRY_SECONDS).
RUN_EXPIRY_SECONDS = 600


async def get_run(
    session: AsyncSession, project_id: str, thread_id: str, run_id: str, kind: str = "run"
) -> Run:
    """A run of the thread; a response's run is found only as one (`kind`)."""
    await get_thread(session, project_id, thread_id)
    run = await owned(session, Run, run_id, "run", thread_id=thread_id)
    if run.kind != kind:
        raise not_found("run", run_id)
    return run


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
        where = [Run.thread_id == thread_id, Run.kind == "run"]
        return await fetch_page(session, Run, where, page)


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
        return await owned(session, RunStep, step_id, "run step", run_id=run_id)


# -- creating and steering runs ------------------------------------------------------------


@dataclass
class Launched:
    """A run set going, and its event stream when the request asked for one."""

    run: Run
    stream: Subscription | None


async def launch(
    channels: RunChannels, run: Run, events: list[announce.Announcement], stream: bool | None
) -> Launched:
    """Subscribe (before anything can happen), announce the stored run, then hand it to the
    run queue."""
    subscription = await channels.bus.subscribe(run.id) if stream else None
    await announce.publish(channels.bus, run.id, events)
    await channels.queue.submit(run.id)
    return Launched(run, subscription)


def _active_run_message(thread_id: str, run_id: str | None) -> InvalidRequest:
    return invalid(f"Thread {thread_id} already has an active run {run_id}.")


def _check_tool_choice(tool_choice: Any, tools: list[dict[str, Any]]) -> None:
    if not isinstance(tool_choice, NamedToolChoice):
        return
    if tool_choice.type == "function":
        assert tool_choice.function is not None
        names = {t["function"]["name"] for t in tools if t["type"] == "function"}
        if tool_choice.function.name not in names:
            raise invalid(
                f"Invalid 'tool_choice': no function named '{tool_choice.function.name}' "
                "among the run's tools.",
                param="tool_choice.function.name",
            )
    elif not any(t["type"] == tool_choice.type for t in tools):
        raise invalid(
            f"Invalid 'tool_choice': the run has no '{tool_choice.type}' tool.",
            param="tool_choice",
        )


def _tool_choice_to_wire(tool_choice: Any) -> Any:
    if tool_choice is None:
        return "auto"
    if isinstance(tool_choice, NamedToolChoice):
        return tool_choice.model_dump(exclude_none=True)
    return tool_choice


def queued_run(**fields: Any) -> Run:
    """A new run, queued: what every run starts with, and `fields`."""
    return Run(
        status="queued",
        required_action=None,
        last_error=None,
        started_at=None,
        cancelled_at=None,
        failed_at=None,
        completed_at=None,
        incomplete_details=None,
        usage=None,
        recoveries=0,
        **fields,
    )


async def _new_run(
    session: AsyncSession,
    project_id: str,
    thread_id: str,
    body: RunOptions,
    new_thread: bool = False,
    api_key_id: str | None = None,
    expires_in: int = RUN_EXPIRY_SECONDS,
) -> Run:
    assistant = await assistants.get(session, project_id, body.assistant_id)
    active = None if new_thread else await active_run_id(session, thread_id)
    if active:
        raise _active_run_message(thread_id, active)
    tools = (
        [tool_to_wire(tool) for tool in body.tools]
        if body.tools is not None
        else list(assistant.tools)
    )
    _check_tool_choice(body.tool_choice, tools)
    instructions = (
        body.instructions if body.instructions is not None else assistant.instructions or ""
    )
    extra = getattr(body, "additional_instructions", None)
    if extra:
        instructions = f"{instructions}\n\n{extra}" if instructions else extra
    run_id, created_at = ids.mint(ids.RUN)
    truncation = (
        body.truncation_strategy.model_dump()
        if body.truncation_strategy is not None
        else dict(AUTO_TRUNCATION)
    )
    run = queued_run(
        id=run_id,
        thread_id=thread_id,
        assistant_id=assistant.id,
        created_at=created_at,
        expires_at=created_at + expires_in,
        model=body.model or assistant.model,
        instructions=instructions,
        tools=tools,
        metadata_=body.metadata or {},
        temperature=body.temperature if body.temperature is not None else assistant.temperature,
        top_p=body.top_p if body.top_p is not None else assistant.top_p,
        max_prompt_tokens=body.max_prompt_tokens,
        max_completion_tokens=body.max_completion_tokens,
        truncation_strategy=truncation,
        tool_choice=_tool_choice_to_wire(body.tool_choice),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        response_format=(
            response_format_to_wire(body.response_format)
            if body.response_format is not None
            else assistant.response_format
        ),
        reasoning_effort=getattr(body, "reasoning_effort", None) or assistant.reasoning_effort,
        api_key_id=api_key_id,
    )
    session.add(run)
    await session.flush()
    return run


async def store_new_run(db: Database, thread_id: str | None, work: Any) -> Any:
    """Run `work(session)` in a write transaction, turning a lost race for the thread's
    one active run into the API's error (`thread_id` None: the thread `work` picks)."""
    try:
        async with db.write() as session:
            return await work(session)
    except IntegrityError as error:
        if thread_id is None:
            raise invalid("Another run or response started on this thread first.") from error
        async with db.read() as session:
            active = await active_run_id(session, thread_id)
        if active is None:
            raise
        raise _active_run_message(thread_id, active) from error


async def create_run(
    db: Database,
    channels: RunChannels,
    project_id: str,
    thread_id: str,
    body: CreateRunRequest,
    api_key_id: str | None = None,
    expires_in: int = RUN_EXPIRY_SECONDS,
) -> Launched:
    """`api_key_id`: the key that starts the run, whose own token limit its usage counts
    against."""

    async def work(session: AsyncSession) -> Run:
        await get_thread(session, project_id, thread_id)
        for index, message in enumerate(body.additional_messages or []):
            await add_message(
                session, project_id, thread_id, message, f"additional_messages[{index}]."
            )
        return await _new_run(
            session, project_id, thread_id, body, api_key_id=api_key_id, expires_in=expires_in
        )

    run = await store_new_run(db, thread_id, work)
    events = [(EventName.RUN_CREATED, run), (EventName.RUN_QUEUED, run)]
    return await launch(channels, run, events, body.stream)


async def create_thread_and_run(
    db: Database,
    channels: RunChannels,
    project_id: str,
    body: CreateThreadAndRunRequest,
    api_key_id: str | None = None,
    expires_in: int = RUN_EXPIRY_SECONDS,
) -> Launched:
    async with db.write() as session:
        thread = await insert_thread(
            session, project_id, body.thread or CreateThreadRequest(), "thread."
        )
        if body.tool_resources is not None:
            given = await resources.resolve(session, project_id, body.tool_resources)
            thread.tool_resources = {**thread.tool_resources, **given}
        run = await _new_run(
            session,
            project_id,
            thread.id,
            body,
            new_thread=True,
            api_key_id=api_key_id,
            expires_in=expires_in,
        )
    events: list[announce.Announcement] = [
        (EventName.THREAD_CREATED, thread),
        (EventName.RUN_CREATED, run),
        (EventName.RUN_QUEUED, run),
    ]
    return await launch(channels, run, events, body.stream)


async def cancel_run(
    db: Database,
    channels: RunChannels,
    project_id: str,
    thread_id: str,
    run_id: str,
    kind: str = "run",
) -> Run:
    """Move the run to `cancelling` and have whoever runs it stop and end it."""
    async with db.write() as session:
        run = await get_run(session, project_id, thread_id, run_id, kind)
        if run.status == "cancelling":
            return run
        if run.status not in ACTIVE_STATUSES:
            raise invalid(f"Cannot cancel run with status '{run.status}'.")
        await lifecycle.transition(session, run_id, "cancelling")
        run.status = "cancelling"
    await announce.publish(channels.bus, run_id, [(EventName.RUN_CANCELLING, run)])
    await channels.queue.cancel(run_id)
    return run


async def submit_tool_outputs(
    db: Database,
    channels: RunChannels,
    project_id: str,
    thread_id: str,
    run_id: str,
    body: SubmitToolOutputsRequest,
) -> Launched:
    async with db.read() as session:
        run = await get_run(session, project_id, thread_id, run_id)
    if run.status == "requires_action" and run.expires_at and run.expires_at <= int(time.time()):
        await expire_overdue(db, channels.bus)
        run.status = "expired"
    if run.status != "requires_action":
        raise invalid(f'Runs in status "{run.status}" do not accept tool outputs.')

    pending = [call["id"] for call in run.required_action["submit_tool_outputs"]["tool_calls"]]
    outputs: dict[str, str] = {}
    for index, given in enumerate(body.tool_outputs):
        if given.tool_call_id not in pending:
            raise invalid(
                f"No tool call with id '{given.tool_call_id}' is waiting for output in "
                f"run {run_id}.",
                param=f"tool_outputs[{index}].tool_call_id",
            )
        if given.tool_call_id in outputs:
            raise invalid(
                f"Duplicate output for tool call '{given.tool_call_id}'.",
                param=f"tool_outputs[{index}].tool_call_id",
            )
        outputs[given.tool_call_id] = given.output
    missing = [call_id for call_id in pending if call_id not in outputs]
    if missing:
        raise invalid(
            f"Expected tool outputs for call_ids {pending}, got {list(outputs)}.",
            param="tool_outputs",
        )

    stamp = int(time.time())
    async with db.write() as session:
        try:
            await lifecycle.transition(session, run_id, "queued", required_action=None)
        except lifecycle.IllegalTransition:
            current = await session.scalar(select(Run.status).where(Run.id == run_id))
            raise invalid(f'Runs in status "{current}" do not accept tool outputs.') from None
        step = await session.scalar(
            select(RunStep).where(
                RunStep.run_id == run_id,
                RunStep.type == "tool_calls",
                RunStep.status == "in_progress",
            )
        )
        if step is not None:
            calls = []
            for call in step.step_details["tool_calls"]:
                if call["type"] == "function" and call["id"] in outputs:
                    call = {**call, "function": {**call["function"], "output": outputs[call["id"]]}}
                calls.append(call)
            details = {**step.step_details, "tool_calls": calls}
            await lifecycle.step_transition(
                session, step.id, "completed", step_details=details, completed_at=stamp
            )
            step = await session.get(RunStep, step.id, populate_existing=True)
        run = await session.get(Run, run_id, populate_existing=True)
    events: list[announce.Announcement] = [(EventName.RUN_QUEUED, run)]
    if step is not None:
        events.insert(0, (EventName.STEP_COMPLETED, step))
    return await launch(channels, run, events, body.stream)


async def expire_overdue(db: Database, bus: EventBus) -> int:
    """Runs waiting in `requires_action` past `expires_at` become `expired`, with the step
    that waited; a run that tool outputs or a cancel moved first is left as it is."""
    now = int(time.time())
    async with db.read() as session:
        overdue = list(
            await session.scalars(
                select(Run).where(Run.status == "requires_action", Run.expires_at <= now)
            )
        )
    expired = 0
    for run in overdue:
        try:
            async with db.write() as session:
                steps = list(
                    await session.scalars(
                        select(RunStep).where(
                            RunStep.run_id == run.id, RunStep.status == "in_progress"
                        )
                    )
                )
                for step in steps:
                    await lifecycle.step_transition(session, step.id, "expired", expired_at=now)
                await lifecycle.transition(session, run.id, "expired", required_action=None)
        except lifecycle.IllegalTransition:
            continue  # tool outputs or a cancel got there first
        for step in steps:
            step.status, step.expired_at = "expired", now
        run.status, run.required_action = "expired", None
        events = [(EventName.STEP_EXPIRED, step) for step in steps]
        await announce.publish(bus, run.id, [*events, (EventName.RUN_EXPIRED, run)])
        expired += 1
    return expired
