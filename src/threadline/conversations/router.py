from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query

from threadline.conversations import service
from threadline.conversations.schemas import (
    ConversationDeleted,
    ConversationItem,
    ConversationObject,
    CreateConversationRequest,
    CreateItemsRequest,
    Include,
    ItemList,
    UpdateConversationRequest,
)
from threadline.http.deps import DB, ProjectId
from threadline.http.pagination import list_page
from threadline.http.query import documented_array, query_array

router = APIRouter(prefix="/conversations", tags=["conversations"])

# `include[]=`, `include[0]=` or `include=`, as for run steps. Of its values,
# `file_search_call.results` adds a search's results; the others name fields of items
# Threadline does not make, and change nothing.
IncludeQuery = Annotated[list[Include] | None, Depends(query_array("include", Include))]
INCLUDE = documented_array(
    "include", Include, "Additional fields of items to include, such as file search results."
)


@router.post("", response_model=ConversationObject)
async def create_conversation(
    db: DB, project: ProjectId, body: Annotated[CreateConversationRequest | None, Body()] = None
):
    return await service.create_conversation(db, project, body or CreateConversationRequest())


@router.get("/{conversation_id}", response_model=ConversationObject)
async def retrieve_conversation(db: DB, project: ProjectId, conversation_id: str):
    return await service.retrieve_conversation(db, project, conversation_id)


@router.post("/{conversation_id}", response_model=ConversationObject)
async def update_conversation(
    db: DB, project: ProjectId, conversation_id: str, body: UpdateConversationRequest
):
    return await service.update_conversation(db, project, conversation_id, body.metadata)


@router.delete("/{conversation_id}", response_model=ConversationDeleted)
async def delete_conversation(db: DB, project: ProjectId, conversation_id: str):
    return ConversationDeleted(id=await service.delete_conversation(db, project, conversation_id))


@router.post("/{conversation_id}/items", response_model=ItemList, openapi_extra=INCLUDE)
async def create_items(
    db: DB,
    project: ProjectId,
    conversation_id: str,
    body: CreateItemsRequest,
    include: IncludeQuery = None,
):
    added = await service.create_items(db, project, conversation_id, body.items)
    return list_page(added, False)


@router.get("/{conversation_id}/items", response_model=ItemList, openapi_extra=INCLUDE)
async def list_items(
    db: DB,
    project: ProjectId,
    conversation_id: str,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query()] = None,
    include: IncludeQuery = None,
):
    page = service.ItemPage(limit=limit, order=order, after=after or None)
    wanted = frozenset(include or ())
    return list_page(*await service.list_items(db, project, conversation_id, page, wanted))


@router.get(
    "/{conversation_id}/items/{item_id}", response_model=ConversationItem, openapi_extra=INCLUDE
)
async def retrieve_item(
    db: DB, project: ProjectId, conversation_id: str, item_id: str, include: IncludeQuery = None
):
    wanted = frozenset(include or ())
    return await service.retrieve_item(db, project, conversation_id, item_id, wanted)


@router.delete("/{conversation_id}/items/{item_id}", response_model=ConversationObject)
async def delete_item(db: DB, project: ProjectId, conversation_id: str, item_id: str):
    return await service.delete_item(db, project, conversation_id, item_id)
