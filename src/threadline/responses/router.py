from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from threadline.conversations.router import IncludeQuery
from threadline.conversations.schemas import Include, ItemList
from threadline.conversations.service import ItemPage
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery
from threadline.events.bus import Subscription
from threadline.files.router import Storage
from threadline.http.deps import DB, ProjectId, RunCaller
from threadline.http.openapi import streamed_responses
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.http.query import documented_array
from threadline.http.sse import event_stream, named_events
from threadline.responses import compaction, input_tokens, service
from threadline.responses import stream as serializer
from threadline.responses.models import Response
from threadline.responses.schemas import (
    CompactRequest,
    CompactResource,
    CreateResponseRequest,
    ResponseDeleted,
    ResponseObject,
    TokenCountsRequest,
    TokenCountsResource,
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
    db: DB, storage: Storage, caller: RunCaller, channels: Channels, body: CreateResponseRequest
):
    created = await service.create_response(
        db, storage, channels, caller.project_id, body, caller.key_id
    )
    if body.stream:
        assert created.events is not None
        return _streamed(db, created.row, created.events, forget=body.store is False)
    if created.events is not None:
        await service.wait_for_end(created.events)
    found = await service.retrieve_response(db, caller.project_id, created.response_id)
    if body.store is False:
        await service.forget(db, created.response_id)
    return found


@router.get("", response_model=ListPage[ResponseObject])
async def list_responses(
    db: DB, project: ProjectId, page: Annotated[PageQuery, Depends(page_query())]
):
    """A Threadline extension: the project's stored responses, newest first."""
    return list_page(*await service.list_responses(db, project, page))


async def prompt_parts(request: Request) -> input_tokens.PromptParts:
    return request.app.state.prompt_parts


# Before the routes of `/{response_id}`: `input_tokens` is no response's id.
@router.post("/input_tokens", response_model=TokenCountsResource)
async def count_input_tokens(
    db: DB,
    storage: Storage,
    project: ProjectId,
    parts: Annotated[input_tokens.PromptParts, Depends(prompt_parts)],
    body: TokenCountsRequest,
):
    """The tokens of the input the same request to `POST /responses` would give the model,
    counted by its own tokenizer (estimated where its server has none to ask)."""
    count = await input_tokens.count_input_tokens(db, storage, parts, project, body)
    return TokenCountsResource(input_tokens=count)


@router.post("/compact", response_model=CompactResource)
async def compact(
    db: DB, storage: Storage, caller: RunCaller, channels: Channels, body: CompactRequest
):
    """The model's summary of the context as a `compaction` item (Threadline keeps the
    summary; the item refers to it: `docs/architecture.md`, "Compaction")."""
    return await compaction.compact(db, storage, channels, caller.project_id, body, caller.key_id)


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
    return await service.retrieve_response(db, project, response_id, frozenset(include or ()))


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
