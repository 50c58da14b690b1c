from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from threadline.backends.embedder_choice import Embedders
from threadline.db.keyset import PageQuery
from threadline.http.deps import DB, ProjectId, SettingsDep
from threadline.http.pagination import ListPage, list_page, page_query
from threadline.schemas import Deleted
from threadline.vector_stores import batches, service
from threadline.vector_stores.index import ChunkIndex
from threadline.vector_stores.schemas import (
    CreateFileBatchRequest,
    CreateVectorStoreFileRequest,
    CreateVectorStoreRequest,
    FileBatchObject,
    FileContentPage,
    SearchRequest,
    SearchResultsPage,
    TextContent,
    UpdateAttributesRequest,
    UpdateVectorStoreRequest,
    VectorStoreFileObject,
    VectorStoreObject,
)

router = APIRouter(prefix="/vector_stores", tags=["vector stores"])

Page = Annotated[PageQuery, Depends(page_query())]
StatusFilter = Annotated[
    Literal["in_progress", "completed", "failed", "cancelled"] | None, Query(alias="filter")
]
POLL_HEADER = "openai-poll-after-ms"


# `async def`, as in `http.deps`: FastAPI runs a plain `def` dependency on a worker thread.
async def chunk_index(request: Request) -> ChunkIndex:
    return request.app.state.chunk_index


async def embedders(request: Request) -> Embedders:
    return request.app.state.embedders


async def poll_hint(settings: SettingsDep, response: Response) -> None:
    # The SDK's *_and_poll helpers wait this long between reads.
    response.headers[POLL_HEADER] = str(settings.poll_after_ms)


Index = Annotated[ChunkIndex, Depends(chunk_index)]
EmbeddersDep = Annotated[Embedders, Depends(embedders)]
# For the objects a client polls until their files are ingested.
POLLED = [Depends(poll_hint)]


@router.post("", response_model=VectorStoreObject)
async def create_vector_store(
    db: DB,
    project: ProjectId,
    body: Annotated[CreateVectorStoreRequest | None, Body()] = None,
):
    return await service.create_store(db, project, body or CreateVectorStoreRequest())


@router.get("", response_model=ListPage[VectorStoreObject])
async def list_vector_stores(db: DB, project: ProjectId, page: Page):
    return list_page(*await service.list_stores(db, project, page))


@router.get("/{vector_store_id}", response_model=VectorStoreObject)
async def retrieve_vector_store(db: DB, project: ProjectId, vector_store_id: str):
    return await service.retrieve_store(db, project, vector_store_id)


@router.post("/{vector_store_id}", response_model=VectorStoreObject)
async def modify_vector_store(
    db: DB,
    project: ProjectId,
    vector_store_id: str,
    body: Annotated[UpdateVectorStoreRequest | None, Body()] = None,
):
    return await service.modify_store(
        db, project, vector_store_id, body or UpdateVectorStoreRequest()
    )


@router.delete("/{vector_store_id}", response_model=Deleted)
async def delete_vector_store(db: DB, project: ProjectId, index: Index, vector_store_id: str):
    await service.delete_store(db, index, project, vector_store_id)
    return Deleted(id=vector_store_id, object="vector_store.deleted")


@router.post("/{vector_store_id}/search", response_model=SearchResultsPage)
async def search_vector_store(
    db: DB,
    project: ProjectId,
    index: Index,
    embedders: EmbeddersDep,
    vector_store_id: str,
    body: SearchRequest,
):
    return await service.search_store(db, index, embedders, project, vector_store_id, body)


# -- files ---------------------------------------------------------------------------------


@router.post("/{vector_store_id}/files", response_model=VectorStoreFileObject, dependencies=POLLED)
async def create_vector_store_file(
    db: DB, project: ProjectId, vector_store_id: str, body: CreateVectorStoreFileRequest
):
    return await service.add_file(db, project, vector_store_id, body)


@router.get("/{vector_store_id}/files", response_model=ListPage[VectorStoreFileObject])
async def list_vector_store_files(
    db: DB, project: ProjectId, vector_store_id: str, page: Page, status: StatusFilter = None
):
    return list_page(*await service.list_files(db, project, vector_store_id, page, status))


@router.get(
    "/{vector_store_id}/files/{file_id}",
    response_model=VectorStoreFileObject,
    dependencies=POLLED,
)
async def retrieve_vector_store_file(
    db: DB, project: ProjectId, vector_store_id: str, file_id: str
):
    return await service.retrieve_file(db, project, vector_store_id, file_id)


@router.post("/{vector_store_id}/files/{file_id}", response_model=VectorStoreFileObject)
async def update_vector_store_file(
    db: DB, project: ProjectId, vector_store_id: str, file_id: str, body: UpdateAttributesRequest
):
    return await service.update_attributes(db, project, vector_store_id, file_id, body)


@router.delete("/{vector_store_id}/files/{file_id}", response_model=Deleted)
async def delete_vector_store_file(
    db: DB, project: ProjectId, index: Index, vector_store_id: str, file_id: str
):
    await service.remove_file(db, index, project, vector_store_id, file_id)
    return Deleted(id=file_id, object="vector_store.file.deleted")


@router.get("/{vector_store_id}/files/{file_id}/content", response_model=FileContentPage)
async def vector_store_file_content(db: DB, project: ProjectId, vector_store_id: str, file_id: str):
    texts = await service.file_content(db, project, vector_store_id, file_id)
    return FileContentPage(data=[TextContent(text=text) for text in texts])


# -- file batches --------------------------------------------------------------------------


@router.post("/{vector_store_id}/file_batches", response_model=FileBatchObject, dependencies=POLLED)
async def create_file_batch(
    db: DB, project: ProjectId, vector_store_id: str, body: CreateFileBatchRequest
):
    return await batches.create_batch(db, project, vector_store_id, body)


@router.get(
    "/{vector_store_id}/file_batches/{batch_id}",
    response_model=FileBatchObject,
    dependencies=POLLED,
)
async def retrieve_file_batch(db: DB, project: ProjectId, vector_store_id: str, batch_id: str):
    return await batches.retrieve_batch(db, project, vector_store_id, batch_id)


@router.post("/{vector_store_id}/file_batches/{batch_id}/cancel", response_model=FileBatchObject)
async def cancel_file_batch(db: DB, project: ProjectId, vector_store_id: str, batch_id: str):
    return await batches.cancel_batch(db, project, vector_store_id, batch_id)


@router.get(
    "/{vector_store_id}/file_batches/{batch_id}/files",
    response_model=ListPage[VectorStoreFileObject],
)
async def list_file_batch_files(
    db: DB,
    project: ProjectId,
    vector_store_id: str,
    batch_id: str,
    page: Page,
    status: StatusFilter = None,
):
    return list_page(
        *await service.list_files(db, project, vector_store_id, page, status, batch_id)
    )
