from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response

from threadline.db.keyset import PageQuery
from threadline.engine.events import Event
from threadline.http.deps import DB, EngineDep, ProjectId, SettingsDep
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.http.sse import event_stream, run_events
from threadline.runs import service
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

router = APIRouter(prefix="/threads/{thread_id}/runs", tags=["runs"])
# `POST /threads/runs` must be routed before `POST /threads/{thread_id}`.
thread_and_run_router = APIRouter(prefix="/threads", tags=["runs"])

IncludeQuery = Annotated[list[Include] | None, Query(alias="include[]")]
POLL_HEADER = "openai-poll-after-ms"


def _step(row: RunStep, include: list[str] | None) -> RunStepObject:
    step = RunStepObject.model_validate(row)
    step.step_details = step_details_to_wire(row.step_details, frozenset(include or ()))
    return step


def _shape_steps(include: list[str] | None):
    wanted = frozenset(include or ())

    def shape(event: Event) -> Event:
        data = event.data
        if isinstance(data, dict) and data.get("object") == "thread.run.step":
            details = step_details_to_wire(data["step_details"], wanted)
            return Event(event.name, {**data, "step_details": details})
        return event

    return shape


class Launcher:
    """Sets stored runs going: announces their events, dispatches them, and answers with a
    stream or with the run (and the polling hint)."""

    def __init__(self, engine: EngineDep, settings: SettingsDep, response: Response) -> None:
        self.engine = engine
        self.poll_after_ms = str(settings.poll_after_ms)
        self.response = response

    def poll_hint(self) -> None:
        self.response.headers[POLL_HEADER] = self.poll_after_ms

    async def __call__(
        self, launch: service.Launch, stream: bool | None, include: list[str] | None = None
    ) -> Any:
        subscription = self.engine.subscribe(launch.run.id) if stream else None
        await self.engine.announce(launch.run, *launch.events)
        self.engine.dispatch(launch.run.id)
        if subscription is not None:
            return event_stream(run_events(subscription, _shape_steps(include)))
        self.poll_hint()
        return launch.run


async def launcher(engine: EngineDep, settings: SettingsDep, response: Response) -> Launcher:
    return Launcher(engine, settings, response)  # not `Depends(Launcher)`: that is a thread hop


Launch = Annotated[Launcher, Depends(launcher)]


@thread_and_run_router.post("/runs", response_model=RunObject)
async def create_thread_and_run(
    db: DB, project: ProjectId, body: CreateThreadAndRunRequest, launch: Launch
):
    return await launch(await service.create_thread_and_run(db, project, body), body.stream)


@router.post("", response_model=RunObject)
async def create_run(
    db: DB,
    project: ProjectId,
    thread_id: str,
    body: CreateRunRequest,
    launch: Launch,
    include: IncludeQuery = None,
):
    started = await service.create_run(db, project, thread_id, body)
    return await launch(started, body.stream, include)


@router.get("", response_model=ListPage[RunObject])
async def list_runs(
    db: DB, project: ProjectId, thread_id: str, page: Annotated[PageQuery, Depends(page_query())]
):
    return list_page(*await service.list_runs(db, project, thread_id, page))


@router.get("/{run_id}", response_model=RunObject)
async def retrieve_run(db: DB, project: ProjectId, thread_id: str, run_id: str, launch: Launch):
    launch.poll_hint()
    return await service.retrieve_run(db, project, thread_id, run_id)


@router.post("/{run_id}/cancel", response_model=RunObject)
async def cancel_run(db: DB, project: ProjectId, thread_id: str, run_id: str, launch: Launch):
    cancelling = await service.cancel_run(db, project, thread_id, run_id)
    await launch.engine.announce(cancelling.run, *cancelling.events)
    if cancelling.events:
        launch.engine.cancel(run_id)
    launch.poll_hint()
    return cancelling.run


@router.post("/{run_id}/submit_tool_outputs", response_model=RunObject)
async def submit_tool_outputs(
    db: DB,
    project: ProjectId,
    thread_id: str,
    run_id: str,
    body: SubmitToolOutputsRequest,
    launch: Launch,
):
    emitter = launch.engine.emitter
    resumed = await service.submit_tool_outputs(db, emitter, project, thread_id, run_id, body)
    return await launch(resumed, body.stream)


@router.post("/{run_id}", response_model=RunObject)
async def modify_run(
    db: DB,
    project: ProjectId,
    thread_id: str,
    run_id: str,
    body: Annotated[ModifyRunRequest | None, Body()] = None,
):
    return await service.modify_run(db, project, thread_id, run_id, body or ModifyRunRequest())


@router.get("/{run_id}/steps", response_model=ListPage[RunStepObject])
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


@router.get("/{run_id}/steps/{step_id}", response_model=RunStepObject)
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
