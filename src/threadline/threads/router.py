from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from threadline.db.keyset import PageQuery
from threadline.http.deps import DB, ProjectId
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.schemas import Deleted
from threadline.threads import service
from threadline.threads.schemas import (
    CreateMessageRequest,
    CreateThreadRequest,
    MessageObject,
    ModifyMessageRequest,
    ModifyThreadRequest,
    ThreadObject,
)

router = APIRouter(prefix="/threads", tags=["threads"])


@router.post("", response_model=ThreadObject)
async def create_thread(
    db: DB, project: ProjectId, body: Annotated[CreateThreadRequest | None, Body()] = None
):
    return await service.create_thread(db, project, body or CreateThreadRequest())


@router.get("", response_model=ListPage[ThreadObject])
async def list_threads(
    db: DB,
    project: ProjectId,
    request: Request,
    page: Annotated[PageQuery, Depends(page_query())],
    id_prefix: Annotated[str | None, Query(alias="id", max_length=64)] = None,
):
    """A Threadline extension: the project's threads, newest first; `metadata[key]=value`
    (each pair must match) and `id` (a prefix) narrow it."""
    metadata = {
        key[len("metadata[") : -1]: value
        for key, value in request.query_params.multi_items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    return list_page(*await service.list_threads(db, project, page, metadata, id_prefix))


@router.get("/{thread_id}", response_model=ThreadObject)
async def retrieve_thread(db: DB, project: ProjectId, thread_id: str):
    return await service.retrieve_thread(db, project, thread_id)


@router.post("/{thread_id}", response_model=ThreadObject)
async def modify_thread(
    db: DB,
    project: ProjectId,
    thread_id: str,
    body: Annotated[ModifyThreadRequest | None, Body()] = None,
):
    return await service.modify_thread(db, project, thread_id, body or ModifyThreadRequest())


@router.delete("/{thread_id}", response_model=Deleted)
async def delete_thread(db: DB, project: ProjectId, thread_id: str):
    await service.delete_thread(db, project, thread_id)
    return Deleted(id=thread_id, object="thread.deleted")


@router.post("/{thread_id}/messages", response_model=MessageObject)
async def create_message(db: DB, project: ProjectId, thread_id: str, body: CreateMessageRequest):
    return await service.create_message(db, project, thread_id, body)


@router.get("/{thread_id}/messages", response_model=ListPage[MessageObject])
async def list_messages(
    db: DB,
    project: ProjectId,
    thread_id: str,
    page: Annotated[PageQuery, Depends(page_query())],
    run_id: Annotated[str | None, Query()] = None,
):
    return list_page(*await service.list_messages(db, project, thread_id, page, run_id))


@router.get("/{thread_id}/messages/{message_id}", response_model=MessageObject)
async def retrieve_message(db: DB, project: ProjectId, thread_id: str, message_id: str):
    return await service.retrieve_message(db, project, thread_id, message_id)


@router.post("/{thread_id}/messages/{message_id}", response_model=MessageObject)
async def modify_message(
    db: DB,
    project: ProjectId,
    thread_id: str,
    message_id: str,
    body: Annotated[ModifyMessageRequest | None, Body()] = None,
):
    return await service.modify_message(
        db, project, thread_id, message_id, body or ModifyMessageRequest()
    )


@router.delete("/{thread_id}/messages/{message_id}", response_model=Deleted)
async def delete_message(db: DB, project: ProjectId, thread_id: str, message_id: str):
    await service.delete_message(db, project, thread_id, message_id)
    return Deleted(id=message_id, object="thread.message.deleted")
