"""Wire models of vector stores, their files and batches, and search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from threadline.schemas import (
    EmptyDict,
    LastErrorObject,
    Metadata,
    Omittable,
    Part,
    Request,
    Shape,
    Wire,
    by_field,
    one_of,
)

FileStatus = Literal["in_progress", "completed", "failed", "cancelled"]


# -- chunking ----------------------------------------------------------------------------------
# How a store cuts its files; tool resources name one too, for the stores they make.

AUTO_CHUNKING = {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}


class StaticChunking(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    max_chunk_size_tokens: Annotated[int, Field(ge=100, le=4096)]
    chunk_overlap_tokens: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _overlap_at_most_half(self) -> StaticChunking:
        if self.chunk_overlap_tokens > self.max_chunk_size_tokens // 2:
            raise PydanticCustomError(
                "invalid_value",
                "Invalid 'chunk_overlap_tokens': the overlap ({overlap}) must not exceed half "
                "of max_chunk_size_tokens ({size}).",
                {"overlap": self.chunk_overlap_tokens, "size": self.max_chunk_size_tokens},
            )
        return self


class AutoChunkingStrategy(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: Literal["auto"]


class StaticChunkingStrategy(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: Literal["static"]
    static: StaticChunking


def chunking_to_wire(strategy: AutoChunkingStrategy | StaticChunkingStrategy | None) -> dict:
    """The stored and returned form: `auto` is reported as the static numbers it means."""
    if isinstance(strategy, StaticChunkingStrategy):
        return {"type": "static", "static": strategy.static.model_dump()}
    return {"type": "static", "static": dict(AUTO_CHUNKING)}


ChunkingStrategy = by_field(
    "type", {"auto": AutoChunkingStrategy, "static": StaticChunkingStrategy}
)


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > 16:
        raise PydanticCustomError(
            "object_above_max_properties",
            "Invalid 'attributes': too many properties. Expected an object with at most 16 "
            "properties, but got an object with {count} properties instead.",
            {"count": len(value)},
        )
    for key, item in value.items():
        if len(key) > 64:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'attributes': key '{key}' is too long (at most 64 characters).",
                {"key": key[:80]},
            )
        if isinstance(item, str) and len(item) > 512:
            raise PydanticCustomError(
                "string_above_max_length",
                "Invalid 'attributes.{key}': string too long. Expected a string with maximum "
                "length 512, but got a string with length {count} instead.",
                {"key": key, "count": len(item)},
            )
    return value


# Up to 16 keys (64 characters) whose values are strings (512), numbers or booleans.
Attributes = Annotated[dict[str, str | float | bool], AfterValidator(_check_attributes)]


class ExpiresAfter(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    anchor: Literal["last_active_at"]
    days: Annotated[int, Field(ge=1, le=365)]


# The spec gives no maximum; 512, as for metadata values. Kept, not returned (the spec's and
# the SDKs' VectorStore have no `description`).
Description = Annotated[str, Field(max_length=512)]


class CreateVectorStoreRequest(Request):
    file_ids: Annotated[list[str], Field(max_length=500)] | None = None
    name: str | None = None
    description: Description | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata | None = None


class UpdateVectorStoreRequest(Request):
    name: str | None = None
    description: Description | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata | None = None


class CreateVectorStoreFileRequest(Request):
    file_id: str
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes | None = None


class BatchFile(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    file_id: str
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes | None = None


class CreateFileBatchRequest(Request):
    file_ids: Annotated[list[str], Field(min_length=1, max_length=2000)] | None = None
    files: Annotated[list[BatchFile], Field(min_length=1, max_length=2000)] | None = None
    chunking_strategy: ChunkingStrategy | None = None
    attributes: Attributes | None = None

    @model_validator(mode="after")
    def _some_files(self) -> CreateFileBatchRequest:
        if self.file_ids is None and self.files is None:
            raise PydanticCustomError(
                "missing_required_parameter",
                "Missing required parameter: 'file_ids' (or 'files').",
            )
        if self.file_ids is not None and self.files is not None:
            raise PydanticCustomError(
                "invalid_value", "Give either 'file_ids' or 'files', not both."
            )
        return self


class UpdateAttributesRequest(Request):
    attributes: Attributes | None


# -- search ------------------------------------------------------------------------------------

Scalar = str | float | bool


class ComparisonFilter(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"] = "eq"
    key: str
    value: Scalar | list[str | float]


def _filter_kind(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return "compound" if value.get("type") in ("and", "or") else "comparison"


Filter = one_of(_filter_kind, {"comparison": ComparisonFilter, "compound": "CompoundFilter"})


class CompoundFilter(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    type: Literal["and", "or"]
    filters: list[Filter]


class SearchRankingOptions(Part):
    model_config = ConfigDict(strict=True, extra="forbid")

    ranker: Literal["none", "auto", "default-2024-11-15"] = "auto"
    score_threshold: Annotated[float, Field(ge=0, le=1)] = 0.0


def _query_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "many"
    return None


Query = one_of(
    _query_kind,
    {"text": str, "many": Annotated[list[str], Field(min_length=1)]},
    expected="a string or an array of strings",
)


class SearchRequest(Request):
    query: Query
    rewrite_query: bool = False
    max_num_results: Annotated[int, Field(ge=1, le=50)] = 10
    filters: Filter | None = None
    ranking_options: SearchRankingOptions | None = None


# -- responses ---------------------------------------------------------------------------------


class StaticChunkingObject(BaseModel):
    type: Literal["static"]
    static: StaticChunking


AttributeValue = str | float | bool


class FileCounts(Wire):
    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    total: int = 0


class VectorStoreObject(Wire):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"]
    expires_after: Annotated[Omittable[dict[str, Any]], Shape(ExpiresAfter)]
    expires_at: int | None
    last_active_at: int | None
    metadata: dict[str, str] | None


class VectorStoreFileObject(Wire):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: FileStatus
    last_error: Annotated[dict[str, str] | None, Shape(LastErrorObject | None)]
    chunking_strategy: Annotated[dict[str, Any], Shape(StaticChunkingObject)]
    attributes: Annotated[EmptyDict, Shape(dict[str, AttributeValue])]


class FileBatchObject(Wire):
    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: FileStatus
    file_counts: FileCounts


class TextContent(Wire):
    type: Literal["text"] = "text"
    text: str


class SearchResult(Wire):
    file_id: str
    filename: str
    score: float
    attributes: Annotated[EmptyDict, Shape(dict[str, AttributeValue])]
    content: list[TextContent]


class SearchResultsPage(Wire):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool = False
    next_page: str | None = None


class FileContentPage(Wire):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[TextContent]
    has_more: bool = False
    next_page: str | None = None


CompoundFilter.model_rebuild()
