from __future__ import annotations

import json
import mimetypes
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from threadline.containers import files, service
from threadline.containers.schemas import (
    ContainerDeleted,
    ContainerFileDeleted,
    ContainerFileObject,
    ContainerObject,
    CreateContainerBody,
    CreateContainerFileBody,
)
from threadline.db.keyset import PageQuery
from threadline.errors import invalid
from threadline.files.router import Storage
from threadline.http.deps import DB, ProjectId
from threadline.http.openapi import DOWNLOAD
from threadline.http.pagination import ListPage, list_page

router = APIRouter(prefix="/containers", tags=["containers"])

# The spec's list parameters for containers and their files: no `before`.
Limit = Annotated[int, Query(ge=1, le=100)]
Order = Annotated[Literal["asc", "desc"], Query()]
After = Annotated[str | None, Query()]

# A file is added by a multipart upload (`file`) or by a JSON `file_id`: the route reads the
# body itself, so the document is told both forms here.
_UPLOAD_FORM = {
    "type": "object",
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "file_id": {"type": "string"},
    },
}
CREATE_FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CreateContainerFileBody.model_json_schema()},
            "multipart/form-data": {"schema": _UPLOAD_FORM},
        },
    }
}
EITHER = "Provide either 'file' (a multipart/form-data upload) or 'file_id', not both."


@router.post("", response_model=ContainerObject)
async def create_container(db: DB, storage: Storage, project: ProjectId, body: CreateContainerBody):
    return await service.create(db, storage, project, body)


@router.get("", response_model=ListPage[ContainerObject])
async def list_containers(
    db: DB,
    project: ProjectId,
    limit: Limit = 20,
    order: Order = "desc",
    after: After = None,
    name: Annotated[str | None, Query()] = None,
):
    page = PageQuery(limit=limit, order=order, after=after or None)
    return list_page(*await service.list_containers(db, project, page, name))


@router.get("/{container_id}", response_model=ContainerObject)
async def retrieve_container(db: DB, project: ProjectId, container_id: str):
    return await service.retrieve(db, project, container_id)


@router.delete("/{container_id}", response_model=ContainerDeleted)
async def delete_container(db: DB, storage: Storage, project: ProjectId, container_id: str):
    return ContainerDeleted(id=await service.delete_container(db, storage, project, container_id))


async def _json_file_id(request: Request) -> str | None:
    """`file_id` of a JSON body, validated as FastAPI validates bodies (same 400s)."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        data = json.loads(raw)
    except ValueError as error:
        problem = {"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error"}
        errors = [{**problem, "input": {}, "ctx": {"error": str(error)}}]
        raise RequestValidationError(errors) from None
    try:
        return CreateContainerFileBody.model_validate(data).file_id
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None


@router.post(
    "/{container_id}/files", response_model=ContainerFileObject, openapi_extra=CREATE_FILE_BODY
)
async def create_container_file(
    db: DB, storage: Storage, project: ProjectId, container_id: str, request: Request
):
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        file_id = await _json_file_id(request)
        if file_id is None:
            raise invalid(EITHER, param="file_id", code="missing_required_parameter")
        return await files.add_existing(db, storage, project, container_id, file_id)
    async with request.form(max_files=1) as form:
        upload, file_id = form.get("file"), form.get("file_id")
        if upload is not None and file_id is not None:
            raise invalid(EITHER, param="file")
        if isinstance(file_id, str):
            return await files.add_existing(db, storage, project, container_id, file_id)
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise invalid(
                f"Invalid 'file': expected a file upload with a filename. {EITHER}", param="file"
            )
        return await files.add_upload(
            db, storage, project, container_id, upload.filename, upload.file
        )


@router.get("/{container_id}/files", response_model=ListPage[ContainerFileObject])
async def list_container_files(
    db: DB,
    project: ProjectId,
    container_id: str,
    limit: Limit = 20,
    order: Order = "desc",
    after: After = None,
):
    page = PageQuery(limit=limit, order=order, after=after or None)
    return list_page(*await files.list_files(db, project, container_id, page))


@router.get("/{container_id}/files/{file_id}", response_model=ContainerFileObject)
async def retrieve_container_file(db: DB, project: ProjectId, container_id: str, file_id: str):
    return await files.retrieve_file(db, project, container_id, file_id)


@router.delete("/{container_id}/files/{file_id}", response_model=ContainerFileDeleted)
async def delete_container_file(
    db: DB, storage: Storage, project: ProjectId, container_id: str, file_id: str
):
    deleted = await files.delete_file(db, storage, project, container_id, file_id)
    return ContainerFileDeleted(id=deleted)


@router.get("/{container_id}/files/{file_id}/content", responses=DOWNLOAD)
async def retrieve_container_file_content(
    db: DB, storage: Storage, project: ProjectId, container_id: str, file_id: str
):
    where, path = await files.content(db, storage, project, container_id, file_id)
    media_type = mimetypes.guess_type(PurePosixPath(path).name)[0] or "application/octet-stream"
    return FileResponse(where, media_type=media_type)
