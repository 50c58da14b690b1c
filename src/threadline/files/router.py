from __future__ import annotations

import mimetypes
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse

from threadline.db.keyset import PageQuery
from threadline.files import service
from threadline.files.schemas import (
    EXPIRES_MAX_SECONDS,
    EXPIRES_MIN_SECONDS,
    FileObject,
    UploadPurpose,
)
from threadline.files.storage import FileStorage
from threadline.http.deps import DB, ProjectId
from threadline.http.openapi import DOWNLOAD
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.schemas import Deleted

router = APIRouter(prefix="/files", tags=["files"])

# The hosted API's list default and maximum for files.
FILES_PAGE = page_query(default=10_000, maximum=10_000)


# `async def`, as in `http.deps`: FastAPI runs a plain `def` dependency on a worker thread.
async def file_storage(request: Request) -> FileStorage:
    return request.app.state.storage


async def deletion_hooks(request: Request) -> service.DeletionHooks:
    return request.app.state.file_deletion_hooks


Storage = Annotated[FileStorage, Depends(file_storage)]
Hooks = Annotated[service.DeletionHooks, Depends(deletion_hooks)]


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
async def delete_file(db: DB, storage: Storage, hooks: Hooks, project: ProjectId, file_id: str):
    await service.delete_file(db, storage, hooks, project, file_id)
    return Deleted(id=file_id, object="file")


@router.get("/{file_id}/content", responses=DOWNLOAD)
async def download_file(db: DB, storage: Storage, project: ProjectId, file_id: str):
    row = await service.retrieve(db, project, file_id)
    media_type = mimetypes.guess_type(row.filename)[0] or "application/octet-stream"
    return FileResponse(storage.path(row.id), media_type=media_type)
