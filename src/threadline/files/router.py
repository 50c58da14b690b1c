from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.db.keyset import PageQuery
from threadline.files import service
from threadline.files.schemas import (
    EXPIRES_MAX_SECONDS,
    EXPIRES_MIN_SECONDS,
    FileObject,
    UploadPurpose,
)
from threadline.http.deps import DB, ProjectId, Storage
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.schemas import Deleted
from threadline.vector_stores import service as vector_stores_service

router = APIRouter(prefix="/files", tags=["files"])

# The hosted API's list default and maximum for files.
FILES_PAGE = page_query(default=10_000, maximum=10_000)


@router.post("", response_model=FileObject)
async def upload_file(
    db: DB,
    storage: Storage,
    project: ProjectId,
    file: UploadFile,
    purpose: Annotated[UploadPurpose, Form()],
    expires_after_anchor: Annotated[
        str | None, Form(alias="expires_after[anchor]", pattern="^created_at$")
    ] = None,
    expires_after_seconds: Annotated[
        int | None,
        Form(alias="expires_after[seconds]", ge=EXPIRES_MIN_SECONDS, le=EXPIRES_MAX_SECONDS),
    ] = None,
):
    return await service.create(
        db,
        storage,
        project,
        file.file,
        file.filename or "upload",
        purpose,
        expires_after_seconds if expires_after_anchor or expires_after_seconds else None,
    )


@router.get("", response_model=ListPage[FileObject])
async def list_files(
    db: DB,
    project: ProjectId,
    page: Annotated[PageQuery, Depends(FILES_PAGE)],
    purpose: Annotated[str | None, Query()] = None,
):
    return list_page(*await service.list_files(db, project, page, purpose))


@router.get("/{file_id}", response_model=FileObject)
async def retrieve_file(db: DB, project: ProjectId, file_id: str):
    return await service.retrieve(db, project, file_id)


@router.delete("/{file_id}", response_model=Deleted)
async def delete_file(request: Request, db: DB, storage: Storage, project: ProjectId, file_id: str):
    index = request.app.state.chunk_index

    async def leave_vector_stores(session: AsyncSession, deleted: str) -> None:
        await vector_stores_service.forget_file_everywhere(session, index, deleted)

    await service.delete_file(db, storage, project, file_id, also=leave_vector_stores)
    return Deleted(id=file_id, object="file")


@router.get("/{file_id}/content")
async def download_file(db: DB, storage: Storage, project: ProjectId, file_id: str):
    row = await service.retrieve(db, project, file_id)
    media_type = mimetypes.guess_type(row.filename)[0] or "application/octet-stream"
    return FileResponse(storage.path(row.id), media_type=media_type)
