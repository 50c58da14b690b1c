from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends

from threadline.assistants import service
from threadline.assistants.schemas import (
    AssistantObject,
    CreateAssistantRequest,
    ModifyAssistantRequest,
)
from threadline.db.keyset import PageQuery
from threadline.http.deps import DB, ProjectId
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.schemas import Deleted

router = APIRouter(prefix="/assistants", tags=["assistants"])


@router.post("", response_model=AssistantObject)
async def create_assistant(db: DB, project: ProjectId, body: CreateAssistantRequest):
    return await service.create(db, project, body)


@router.get("", response_model=ListPage[AssistantObject])
async def list_assistants(
    db: DB, project: ProjectId, page: Annotated[PageQuery, Depends(page_query())]
):
    return list_page(*await service.list_assistants(db, project, page))


@router.get("/{assistant_id}", response_model=AssistantObject)
async def retrieve_assistant(db: DB, project: ProjectId, assistant_id: str):
    return await service.retrieve(db, project, assistant_id)


@router.post("/{assistant_id}", response_model=AssistantObject)
async def modify_assistant(
    db: DB,
    project: ProjectId,
    assistant_id: str,
    body: Annotated[ModifyAssistantRequest | None, Body()] = None,
):
    return await service.modify(db, project, assistant_id, body or ModifyAssistantRequest())


@router.delete("/{assistant_id}", response_model=Deleted)
async def delete_assistant(db: DB, project: ProjectId, assistant_id: str):
    await service.delete(db, project, assistant_id)
    return Deleted(id=assistant_id, object="assistant.deleted")
