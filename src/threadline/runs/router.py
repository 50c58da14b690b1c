from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from threadline.db.keyset import PageQuery
from threadline.http.deps import DB, ProjectId
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.runs import service
from threadline.runs.models import RunStep
from threadline.runs.schemas import (
    Include,
    ModifyRunRequest,
    RunObject,
    RunStepObject,
    step_details_to_wire,
)

router = APIRouter(prefix="/threads/{thread_id}/runs", tags=["runs"])

IncludeQuery = Annotated[list[Include] | None, Query(alias="include[]")]


def _step(row: RunStep, include: list[str] | None) -> RunStepObject:
    step = RunStepObject.model_validate(row)
    step.step_details = step_details_to_wire(row.step_details, frozenset(include or ()))
    return step


@router.get("", response_model=ListPage[RunObject])
async def list_runs(
    db: DB, project: ProjectId, thread_id: str, page: Annotated[PageQuery, Depends(page_query())]
):
    return list_page(*await service.list_runs(db, project, thread_id, page))


@router.get("/{run_id}", response_model=RunObject)
async def retrieve_run(db: DB, project: ProjectId, thread_id: str, run_id: str):
    return await service.retrieve_run(db, project, thread_id, run_id)


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
