"""Responses: created, waited for, read, cancelled and deleted.

A response is a run of kind `response` (`resp_X` is `run_X`) on a thread: its conversation's,
the thread its previous response ran on when it continues the latest response there, or a
hidden thread of its own (with the context of the response it continues copied in, when it
branches off an earlier one). Its input items are added to that thread, the engine runs it
as it runs any run, and its output is the items its run made.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.assistants import service as assistants
from threadline.conversations import service as conversations
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, fetch_page
from threadline.errors import InvalidRequest, NotFound, invalid, not_found
from threadline.events.bus import FROM_START, Event, Subscription
from threadline.events.names import EventName, run_event
from threadline.files.storage import FileStorage
from threadline.responses import context, inputs, objects, tools
from threadline.responses.models import Response
from threadline.responses.schemas import (
    CreateResponseRequest,
    TextFormatJsonObject,
    TextFormatJsonSchema,
)
from threadline.run_status import ACTIVE_STATUSES, TERMINAL_STATUSES
from threadline.runs import announce
from threadline.runs import service as runs
from threadline.runs.channels import RunChannels
from threadline.runs.models import Run
from threadline.runs.reattach import Replay
from threadline.threads import service as threads
from threadline.threads.models import Thread

# The run events after which a response is over.
_ENDS = frozenset(
    {
        EventName.RUN_COMPLETED,
        EventName.RUN_FAILED,
        EventName.RUN_CANCELLED,
        EventName.RUN_INCOMPLETE,
        EventName.RUN_EXPIRED,
    }
)


@dataclass
class Created:
    row: Response
    # The run's events, when the caller waits for its end or streams it.
    events: Subscription | None

    @property
    def response_id(self) -> str:
        return self.row.id


def run_id_of(response_id: str) -> str:
    return ids.as_prefix(response_id, ids.RUN)


# -- reading --------------------------------------------------------------------------------


async def get_response(session: AsyncSession, project_id: str, response_id: str) -> Response:
    row = await session.get(Response, response_id) if response_id.startswith("resp_") else None
    if row is None or row.project_id != project_id:
        raise not_found("response", response_id)
    return row


async def retrieve_response(
    db: Database, project_id: str, response_id: str, include: frozenset[str] | None = None
) -> dict[str, Any]:
    """The response; its items' optional fields as `include` asks (by default, as its
    creation asked)."""
    async with db.read() as session:
        return await objects.response_object(
            session, await get_response(session, project_id, response_id), include
        )


async def delete_response(db: Database, project_id: str, response_id: str) -> None:
    """Deletes the response (its run, steps and messages; on a hidden thread of its own, the
    thread too). Items it added to a conversation stay there."""
    async with db.write() as session:
        row = await get_response(session, project_id, response_id)
        run = await session.get(Run, row.run_id)
        if run is not None and run.status in ACTIVE_STATUSES:
            raise invalid(f"Cannot delete response {response_id} while it is in progress.")
        thread = await session.get(Thread, row.thread_id)
        if thread is not None and thread.hidden and await _alone(session, thread.id, row.run_id):
            await session.delete(thread)
        elif run is not None:
            await session.delete(run)
        await session.execute(delete(Response).where(Response.id == row.id))


async def _alone(session: AsyncSession, thread_id: str, run_id: str) -> bool:
    """Whether the run is the thread's only one."""
    count = await session.scalar(
        select(func.count()).select_from(Run).where(Run.thread_id == thread_id, Run.id != run_id)
    )
    return not count


async def list_input_items(
    db: Database, project_id: str, response_id: str, page: conversations.ItemPage
) -> tuple[list[dict[str, Any]], bool]:
    async with db.read() as session:
        row = await get_response(session, project_id, response_id)
        thread = await session.get(Thread, row.thread_id)
        found: list[dict[str, Any]] = []
        for item_id in row.input_items:
            try:
                item, _ = await conversations.find_item(session, thread, item_id)
            except NotFound:  # an item deleted since is no longer listed
                continue
            found.append(item)
    if page.order == "desc":
        found.reverse()
    if page.after:
        place = [item["id"] for item in found]
        found = found[place.index(page.after) + 1 :] if page.after in place else []
    return found[: page.limit], len(found) > page.limit


async def list_responses(
    db: Database, project_id: str, page: PageQuery
) -> tuple[list[dict[str, Any]], bool]:
    """A Threadline extension (the API has no response list): the project's stored
    responses, paged by (created_at, id) like every list. A `store: false` response, kept
    only while its stream lasts, is not listed."""
    where = [Response.project_id == project_id, Response.store.is_(True)]
    async with db.read() as session:
        rows, has_more = await fetch_page(session, Response, where, page)
        return [await objects.response_object(session, row) for row in rows], has_more


async def cancel_response(
    db: Database, channels: RunChannels, project_id: str, response_id: str
) -> dict[str, Any]:
    """Only a background response can be cancelled; one that has ended is returned as it
    is."""
    async with db.read() as session:
        row = await get_response(session, project_id, response_id)
        run = await session.get(Run, row.run_id)
    if not row.background:
        raise invalid("Only responses created with background=true can be cancelled.")
    if run is not None and run.status in ACTIVE_STATUSES and run.status != "cancelling":
        # One that ended meanwhile is returned as it ended.
        with contextlib.suppress(InvalidRequest):
            await runs.cancel_run(
                db, channels, project_id, row.thread_id, row.run_id, kind="response"
            )
    return await retrieve_response(db, project_id, response_id)


# -- creating -------------------------------------------------------------------------------


async def create_response(
    db: Database,
    storage: FileStorage,
    channels: RunChannels,
    project_id: str,
    body: CreateResponseRequest,
    api_key_id: str | None = None,
    branch: bool = False,
) -> Created:
    """`branch`: on a thread of its own even where it could go on in its previous
    response's (a compaction, which leaves nothing behind)."""
    check_request(body)
    response_id = ids.new_id("resp_")

    async def work(session: AsyncSession) -> tuple[Run, Response]:
        return await insert_response(
            session, storage, project_id, body, response_id, api_key_id, branch
        )

    run, row = await runs.store_new_run(db, None, work)
    wait = bool(body.stream) or not body.background
    launched = await runs.launch(
        channels, run, [(EventName.RUN_CREATED, run), (EventName.RUN_QUEUED, run)], wait
    )
    return Created(row, launched.stream)


def check_request(body: CreateResponseRequest) -> None:
    """The rules between a request's fields (each field's own are its schema's)."""
    if not body.model and body.prompt is None:
        raise invalid("Missing required parameter: 'model'.", param="model")
    if body.conversation is not None and body.previous_response_id is not None:
        raise invalid(
            "Mutually exclusive parameters: Ensure you are only providing one of: "
            "'previous_response_id' or 'conversation'.",
            param="previous_response_id",
        )
    if body.background and body.store is False:
        raise invalid("Background responses must be stored: set store to true.", param="store")
    if body.store is False and body.conversation is not None:
        raise invalid(
            "A response in a conversation is stored in it: set store to true.", param="store"
        )
    if body.stream_options is not None and not body.stream:
        raise invalid("stream_options requires stream: true.", param="stream_options")


async def events_of(
    db: Database, channels: RunChannels, project_id: str, response_id: str
) -> tuple[Subscription, Response]:
    """A stored response's run events from the first the bus holds (a resumed stream), with
    its row. One that has ended and whose end the bus no longer holds ends the stream at
    once, as it ended."""
    async with db.read() as session:
        row = await get_response(session, project_id, response_id)
        run = await session.get(Run, row.run_id)
        assert run is not None
    subscription = await channels.bus.subscribe(row.run_id, FROM_START)
    held = subscription.drain()
    if run.status in TERMINAL_STATUSES and not any(e.name in _ENDS for e in held):
        held.append(Event(run_event(run.status), announce.record(run)))
    return Replay(subscription, held), row


async def wait_for_end(events: Subscription) -> None:
    """Until the response's run has ended (its events come through the bus, wherever it
    runs)."""
    try:
        async for event in events:
            if event.name in _ENDS:
                return
    finally:
        events.close()


async def forget(db: Database, response_id: str) -> None:
    """`store: false`: nothing of the response stays, its thread included."""
    async with db.write() as session:
        row = await session.get(Response, response_id)
        if row is None:
            return
        thread = await session.get(Thread, row.thread_id)
        if thread is not None:
            await session.delete(thread)
        await session.execute(delete(Response).where(Response.id == response_id))


async def insert_response(
    session: AsyncSession,
    storage: FileStorage,
    project_id: str,
    body: CreateResponseRequest,
    response_id: str,
    api_key_id: str | None,
    branch: bool = False,
) -> tuple[Run, Response]:
    """The response as stored, in the caller's transaction: its thread found or made, its
    input added, its run queued (not yet announced)."""
    defaults = await _prompt_defaults(session, project_id, body)
    conversation_id: str | None = None
    if body.conversation is not None:
        given = body.conversation if isinstance(body.conversation, str) else body.conversation.id
        thread = await conversations.get_conversation(session, project_id, given)
        conversation_id = ids.as_prefix(thread.id, ids.CONVERSATION)
        active = await threads.active_run_id(session, thread.id)
        if active:
            raise invalid(
                f"Conversation {conversation_id} already has a response in progress "
                f"({ids.as_prefix(active, 'resp_')}).",
                param="conversation",
            )
    elif body.previous_response_id is not None:
        thread = await context.continuing(session, project_id, body.previous_response_id, branch)
    else:
        thread = await context.hidden_thread(session, project_id)
    input_ids = await inputs.add_input(session, project_id, thread, body)
    await inputs.check_answered(session, thread.id)
    run = await _new_run(session, storage, thread, body, defaults, response_id, api_key_id)
    row = Response(
        id=response_id,
        project_id=project_id,
        run_id=run.id,
        thread_id=thread.id,
        created_at=run.created_at,
        conversation_id=conversation_id,
        previous_response_id=body.previous_response_id,
        store=body.store is not False,
        background=bool(body.background),
        instructions=body.instructions
        if body.instructions is not None
        else defaults.get("instructions"),
        input_items=input_ids,
        options=_options(body),
    )
    session.add(row)
    await session.flush()
    return run, row


def _options(body: CreateResponseRequest) -> dict[str, Any]:
    text: dict[str, Any] = {"format": {"type": "text"}}
    if body.text is not None and body.text.format is not None:
        text["format"] = body.text.format.model_dump(by_alias=True, exclude_none=True)
    if body.text is not None and body.text.verbosity is not None:
        text["verbosity"] = body.text.verbosity
    reasoning = None
    if body.reasoning is not None:
        reasoning = {
            "effort": body.reasoning.effort,
            "summary": body.reasoning.summary or body.reasoning.generate_summary,
        }
    options = {
        "text": text,
        "reasoning": reasoning,
        "truncation": body.truncation or "disabled",
        "max_tool_calls": body.max_tool_calls,
        "top_logprobs": body.top_logprobs,
        "include": body.include or [],
        "user": body.user,
        "safety_identifier": body.safety_identifier,
        "prompt_cache_key": body.prompt_cache_key,
        "service_tier": body.service_tier,
    }
    return {key: value for key, value in options.items() if value is not None}


async def _prompt_defaults(
    session: AsyncSession, project_id: str, body: CreateResponseRequest
) -> dict[str, Any]:
    """Threadline's extension: an assistant named as the prompt gives its model,
    instructions and tools as the response's defaults."""
    if body.prompt is None:
        return {}
    if not body.prompt.id.startswith(ids.ASSISTANT):
        raise invalid(
            "Invalid 'prompt.id': Threadline takes an assistant's id (asst_...) as a prompt; "
            "OpenAI's dashboard prompts are not available here.",
            param="prompt.id",
        )
    assistant = await assistants.get(session, project_id, body.prompt.id)
    return {
        "model": assistant.model,
        "instructions": assistant.instructions,
        "tools": [tool for tool in assistant.tools if tool.get("type") == "function"],
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "assistant_id": assistant.id,
    }


async def _new_run(
    session: AsyncSession,
    storage: FileStorage,
    thread: Thread,
    body: CreateResponseRequest,
    defaults: dict[str, Any],
    response_id: str,
    api_key_id: str | None,
) -> Run:
    run_tools = (
        await tools.tools_in(session, storage, thread.project_id, response_id, body.tools)
        if body.tools is not None
        else defaults.get("tools", [])
    )
    run_id = run_id_of(response_id)
    created_at = ids.created_at_of(run_id) or 0
    run = runs.queued_run(
        id=run_id,
        thread_id=thread.id,
        assistant_id=defaults.get("assistant_id", ""),
        created_at=created_at,
        expires_at=None,
        model=body.model or defaults["model"],
        instructions=body.instructions
        if body.instructions is not None
        else defaults.get("instructions") or "",
        tools=run_tools,
        metadata_=body.metadata or {},
        temperature=body.temperature
        if body.temperature is not None
        else defaults.get("temperature"),
        top_p=body.top_p if body.top_p is not None else defaults.get("top_p"),
        max_prompt_tokens=None,
        max_completion_tokens=body.max_output_tokens,
        truncation_strategy={"type": body.truncation or "disabled"},
        tool_choice=tools.tool_choice_in(body.tool_choice, run_tools),
        parallel_tool_calls=body.parallel_tool_calls is not False,
        response_format=_response_format(body),
        reasoning_effort=body.reasoning.effort if body.reasoning else None,
        api_key_id=api_key_id,
        kind="response",
    )
    session.add(run)
    await session.flush()
    return run


def _response_format(body: CreateResponseRequest) -> Any:
    fmt = body.text.format if body.text is not None else None
    if isinstance(fmt, TextFormatJsonObject):
        return {"type": "json_object"}
    if isinstance(fmt, TextFormatJsonSchema):
        schema: dict[str, Any] = {"name": fmt.name, "schema": fmt.schema_}
        if fmt.description is not None:
            schema["description"] = fmt.description
        if fmt.strict is not None:
            schema["strict"] = fmt.strict
        return {"type": "json_schema", "json_schema": schema}
    return "auto"
