from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from threadline.conversations.router import IncludeQuery
from threadline.conversations.schemas import Include, ItemList
from threadline.conversations.service import ItemPage
from threadline.db.engine import Database
from threadline.events.bus import Subscription
from threadline.http.deps import DB, ProjectId, RunCaller
from threadline.http.openapi import streamed_responses
from threadline.http.pagination import list_page
from threadline.http.query import documented_array
from threadline.http.sse import event_stream, named_events
from threadline.responses import service
from threadline.responses import stream as serializer
from threadline.responses.models import Response
from threadline.responses.schemas import (
    CreateResponseRequest,
    ResponseDeleted,
    ResponseObject,
)
from threadline.responses.stream_events import stream_event_schema
from threadline.runs.router import Channels

router = APIRouter(prefix="/responses", tags=["responses"])
INCLUDE = documented_array("include", Include, "Additional fields of output items to include.")


STREAMS = streamed_responses(
    "ResponseStreamEvent",
    stream_event_schema(),
    "With `stream: true`: the response's events as server-sent events (`event: <type>`, "
    "`data: <json>`), ending after its `response.completed`, `.failed` or `.incomplete`.",
)


def _streamed(
    db: Database,
    row: Response,
    events: Subscription,
    after: int | None = None,
    forget: bool = False,
):
    """The response's events as a server-sent event stream (`forget`: `store: false`, so
    the response goes once its stream has ended)."""

    async def frames():
        try:
            async for frame in serializer.frames(events, serializer.ResponseStream(row), after):
                yield frame
        finally:
            events.close()
            if forget:
                await service.forget(db, row.id)

    return event_stream(named_events(frames()))


@router.post("", response_model=ResponseObject, responses=STREAMS)
async def create_response(
    db: DB, caller: RunCaller, channels: Channels, body: CreateResponseRequest
):
    created = await service.create_response(db, channels, caller.project_id, body, caller.key_id)
    if body.stream:
        assert created.events is not None
        return _streamed(db, created.row, created.events, forget=body.store is False)
    if created.events is not None:
        await service.wait_for_end(created.events)
    found = await service.retrieve_response(db, caller.project_id, created.response_id)
    if body.store is False:
        await service.forget(db, created.response_id)
    return found


@router.get(
    "/{response_id}", response_model=ResponseObject, responses=STREAMS, openapi_extra=INCLUDE
)
async def retrieve_response(
    db: DB,
    project: ProjectId,
    channels: Channels,
    response_id: str,
    include: IncludeQuery = None,
    stream: Annotated[bool, Query()] = False,
    starting_after: Annotated[int | None, Query(ge=-1)] = None,
):
    """With `stream=true`: its events from the start, or those after `starting_after`."""
    if stream:
        events, row = await service.events_of(db, channels, project, response_id)
        return _streamed(db, row, events, starting_after)
    return await service.retrieve_response(db, project, response_id)


@router.delete("/{response_id}", response_model=ResponseDeleted)
async def delete_response(db: DB, project: ProjectId, response_id: str):
    await service.delete_response(db, project, response_id)
    return ResponseDeleted(id=response_id)


@router.post("/{response_id}/cancel", response_model=ResponseObject)
async def cancel_response(db: DB, project: ProjectId, channels: Channels, response_id: str):
    return await service.cancel_response(db, channels, project, response_id)


@router.get("/{response_id}/input_items", response_model=ItemList, openapi_extra=INCLUDE)
async def list_input_items(
    db: DB,
    project: ProjectId,
    response_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
    include: IncludeQuery = None,
):
    page = ItemPage(limit=limit, order=order, after=after or None)
    return list_page(*await service.list_input_items(db, project, response_id, page))
