from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response

from threadline.db.keyset import PageQuery
from threadline.http.deps import DB, ProjectId, RunCaller, SettingsDep
from threadline.http.openapi import streamed_responses
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.http.query import documented_array, query_array
from threadline.http.sse import event_stream, run_events
from threadline.runs import reattach, service, wire_events
from threadline.runs.channels import RunChannels
from threadline.runs.models import RunStep
from threadline.runs.schemas import (
    CreateRunRequest,
    CreateThreadAndRunRequest,
    Include,
    ModifyRunRequest,
    RunObject,
    RunStepObject,
    SubmitToolOutputsRequest,
    step_details_to_wire,
)
from threadline.runs.stream_events import stream_event_schema

_EVENT = stream_event_schema()
STREAMS = streamed_responses(
    "RunStreamEvent",
    _EVENT,
    "The run, or with `stream: true` its events as server-sent events (`event: <name>` and "
    "`data: <json>`, ending with `event: done` and `data: [DONE]`).",
)
EVENTS = streamed_responses(
    "RunStreamEvent",
    _EVENT,
    "The run's events as server-sent events, ending with `event: done` and `data: [DONE]`.",
)

router = APIRouter(prefix="/threads/{thread_id}/runs", tags=["runs"])
# `POST /threads/runs` must be routed before `POST /threads/{thread_id}`.
thread_and_run_router = APIRouter(prefix="/threads", tags=["runs"])

# `include[]=`, `include[0]=` or `include=`: every operation that takes `include` reads all.
IncludeQuery = Annotated[list[Include] | None, Depends(query_array("include", Include))]
INCLUDE = documented_array(
    "include", Include, "Additional fields of run steps to include, such as file search results."
)
POLL_HEADER = "openai-poll-after-ms"


def _step(row: RunStep, include: list[str] | None) -> RunStepObject:
    step = RunStepObject.model_validate(row)
    step.step_details = step_details_to_wire(
        row.step_details, frozenset(include or ()), row.inputs or {}
    )
    return step


def _shape_steps(include: list[str] | None):
    return wire_events.serializer(frozenset(include or ()))


async def run_channels(request: Request) -> RunChannels:
    return request.app.state.run_channels


Channels = Annotated[RunChannels, Depends(run_channels)]


class Reply:
    """Shapes the answer to a request that set a run going: its event stream, or the run
    with the hint that the SDK's polling helpers read."""

    def __init__(self, settings: SettingsDep, response: Response) -> None:
        self.poll_after_ms = str(settings.poll_after_ms)
        self.response = response
        self.keep_alive = settings.sse_keep_alive_seconds

    def poll_hint(self) -> None:
        self.response.headers[POLL_HEADER] = self.poll_after_ms

    def __call__(self, launched: service.Launched, include: list[str] | None = None) -> Any:
        if launched.stream is not None:
            return event_stream(run_events(launched.stream, _shape_steps(include), self.keep_alive))
        self.poll_hint()
        return launched.run


async def reply(settings: SettingsDep, response: Response) -> Reply:
    return Reply(settings, response)  # not `Depends(Reply)`: that is a thread hop


Replies = Annotated[Reply, Depends(reply)]


@thread_and_run_router.post("/runs", response_model=RunObject, responses=STREAMS)
async def create_thread_and_run(
    db: DB,
    caller: RunCaller,
    channels: Channels,
    body: CreateThreadAndRunRequest,
    reply: Replies,
    settings: SettingsDep,
):
    launched = await service.create_thread_and_run(
        db, channels, caller.project_id, body, caller.key_id, settings.run_expiry_seconds
    )
    return reply(launched)


@router.post("", response_model=RunObject, responses=STREAMS, openapi_extra=INCLUDE)
async def create_run(
    db: DB,
    caller: RunCaller,
    thread_id: str,
    body: CreateRunRequest,
    channels: Channels,
    reply: Replies,
    settings: SettingsDep,
    include: IncludeQuery = None,
):
    launched = await service.create_run(
        db, channels, caller.project_id, thread_id, body, caller.key_id, settings.run_expiry_seconds
    )
    return reply(launched, include)


@router.get("", response_model=ListPage[RunObject])
async def list_runs(
    db: DB, project: ProjectId, thread_id: str, page: Annotated[PageQuery, Depends(page_query())]
):
    return list_page(*await service.list_runs(db, project, thread_id, page))


@router.get("/{run_id}", response_model=RunObject)
async def retrieve_run(db: DB, project: ProjectId, thread_id: str, run_id: str, reply: Replies):
    reply.poll_hint()
    return await service.retrieve_run(db, project, thread_id, run_id)


@router.get("/{run_id}/events", responses=EVENTS, openapi_extra=INCLUDE)
async def run_events_stream(
    db: DB,
    project: ProjectId,
    channels: Channels,
    thread_id: str,
    run_id: str,
    settings: SettingsDep,
    after: Annotated[str | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
    include: IncludeQuery = None,
):
    """A Threadline extension: the run's events, from the start or after an event id."""
    subscription = await reattach.attach(
        db, channels, project, thread_id, run_id, after or last_event_id
    )
    return event_stream(
        run_events(subscription, _shape_steps(include), settings.sse_keep_alive_seconds)
    )


@router.post("/{run_id}/cancel", response_model=RunObject)
async def cancel_run(
    db: DB, project: ProjectId, channels: Channels, thread_id: str, run_id: str, reply: Replies
):
    run = await service.cancel_run(db, channels, project, thread_id, run_id)
    reply.poll_hint()
    return run


@router.post("/{run_id}/submit_tool_outputs", response_model=RunObject, responses=STREAMS)
async def submit_tool_outputs(
    db: DB,
    project: ProjectId,
    thread_id: str,
    run_id: str,
    body: SubmitToolOutputsRequest,
    channels: Channels,
    reply: Replies,
):
    return reply(await service.submit_tool_outputs(db, channels, project, thread_id, run_id, body))


@router.post("/{run_id}", response_model=RunObject)
async def modify_run(
    db: DB,
    project: ProjectId,
    thread_id: str,
    run_id: str,
    body: Annotated[ModifyRunRequest | None, Body()] = None,
):
    return await service.modify_run(db, project, thread_id, run_id, body or ModifyRunRequest())


@router.get("/{run_id}/steps", response_model=ListPage[RunStepObject], openapi_extra=INCLUDE)
async def list_run_steps(
    db: DB,
    project: ProjectId,
    thread_id: str,
    run_id: str,
    page: Annotated[PageQuery, Depends(page_query())],
    include: IncludeQuery = None,
) -> Any:
    rows, has_more = await service.list_steps(db, project, thread_id, run_id, page)
    return list_page([_step(row, include) for row in rows], has_more)


@router.get("/{run_id}/steps/{step_id}", response_model=RunStepObject, openapi_extra=INCLUDE)
async def retrieve_run_step(
    db: DB,
    project: ProjectId,
    thread_id: str,
    run_id: str,
    step_id: str,
    include: IncludeQuery = None,
):
    row = await service.retrieve_step(db, project, thread_id, run_id, step_id)
    return _step(row, include)
