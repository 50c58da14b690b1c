"""Wire models of responses (field-exact with the Responses spec's CreateResponse and
Response)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from threadline.containers.schemas import ContainerNetworkPolicyParam, MemoryLimit
from threadline.conversations.schemas import (
    CodeInterpreterCallItem,
    CompactionItem,
    FileSearchCallItem,
    FunctionCallItem,
    Include,
    InputItem,
    MessageItem,
)
from threadline.schemas import (
    Metadata,
    Omits,
    Omittable,
    Part,
    Request,
    Wire,
    by_field,
    one_of,
    text_or_parts,
)

# CompoundFilter: the name `Filter` refers to, for the models using it to be built here.
from threadline.vector_stores.schemas import CompoundFilter, Filter  # noqa: F401

# -- the request ----------------------------------------------------------------------------


class FunctionToolParam(Part):
    type: Literal["function"]
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class HybridSearchParam(Part):
    embedding_weight: Annotated[float, Field(ge=0)]
    text_weight: Annotated[float, Field(ge=0)]


class RankingOptionsParam(Part):
    ranker: Literal["auto", "default-2024-11-15"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    hybrid_search: HybridSearchParam | None = None


class FileSearchToolParam(Part):
    type: Literal["file_search"]
    vector_store_ids: list[str]
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: RankingOptionsParam | None = None
    filters: Filter | None = None


class AutoContainerParam(Part):
    type: Literal["auto"]
    file_ids: Annotated[list[str], Field(max_length=50)] | None = None
    memory_limit: MemoryLimit | None = None
    network_policy: ContainerNetworkPolicyParam | None = None


def _container_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "id"
    if isinstance(value, dict):
        return "auto"
    return None


ContainerParam = one_of(
    _container_kind,
    {"id": str, "auto": AutoContainerParam},
    expected='a container id or {"type": "auto"}',
)


class CodeInterpreterToolParam(Part):
    type: Literal["code_interpreter"]
    container: ContainerParam
    allowed_callers: list[Literal["direct", "programmatic"]] | None = None


Tool = by_field(
    "type",
    {
        "function": FunctionToolParam,
        "file_search": FileSearchToolParam,
        "code_interpreter": CodeInterpreterToolParam,
    },
)
# The built-in tools a response may name, as `tools` entries and as `tool_choice`.
HOSTED = ("file_search", "code_interpreter")


class FunctionChoice(Part):
    type: Literal["function"]
    name: str


class HostedChoice(Part):
    type: Literal["file_search", "code_interpreter"]


def _choice_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "mode"
    if isinstance(value, dict):
        kind = value.get("type")
        return "function" if kind == "function" else "hosted" if kind in HOSTED else None
    return None


ToolChoice = one_of(
    _choice_kind,
    {
        "mode": Literal["none", "auto", "required"],
        "function": FunctionChoice,
        "hosted": HostedChoice,
    },
    expected="'none', 'auto', 'required', a function to call, or a built-in tool's type",
)


class TextFormatText(Part):
    type: Literal["text"]


class TextFormatJsonObject(Part):
    type: Literal["json_object"]


class TextFormatJsonSchema(Part):
    type: Literal["json_schema"]
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9_-]+$")]
    schema_: dict[str, Any] = Field(alias="schema")
    description: str | None = None
    strict: bool | None = None


TextFormat = by_field(
    "type",
    {
        "text": TextFormatText,
        "json_object": TextFormatJsonObject,
        "json_schema": TextFormatJsonSchema,
    },
)


class TextParam(Part):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ConversationRef(Part):
    id: str


def _conversation_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "id"
    if isinstance(value, dict):
        return "object"
    return None


ConversationParam = one_of(
    _conversation_kind,
    {"id": str, "object": ConversationRef},
    expected="a conversation id or an object with its id",
)


class PromptParam(Part):
    """Threadline's extension: `{"id": "asst_..."}` takes that assistant's model,
    instructions and tools as the response's defaults."""

    id: str
    version: str | None = None
    variables: dict[str, Any] | None = None


class ReasoningParam(Part):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    summary: Literal["auto", "concise", "detailed"] | None = None
    generate_summary: Literal["auto", "concise", "detailed"] | None = None


InputParam = one_of(
    text_or_parts,
    {"text": str, "parts": list[InputItem]},
    expected="a string or an array of input items",
)


class CreateResponseRequest(Request):
    model: str | None = None
    input: InputParam | None = None
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Annotated[int, Field(ge=16, le=2**31 - 1)] | None = None
    max_tool_calls: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = None
    text: TextParam | None = None
    metadata: Metadata | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: ConversationParam | None = None
    truncation: Literal["auto", "disabled"] | None = None
    include: list[Include] | None = None
    background: bool | None = None
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    prompt: PromptParam | None = None
    reasoning: ReasoningParam | None = None
    # Accepted and echoed; they change nothing here.
    user: str | None = None
    safety_identifier: Annotated[str, Field(max_length=64)] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: (
        Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"] | None
    ) = None


# -- as returned ----------------------------------------------------------------------------


class ResponseFunctionTool(Omits):
    type: Literal["function"] = "function"
    name: str
    description: Omittable[str] = None
    parameters: dict[str, Any] | None
    strict: bool | None


class ResponseFileSearchTool(Omits):
    type: Literal["file_search"] = "file_search"
    vector_store_ids: list[str]
    max_num_results: Omittable[int] = None
    ranking_options: Omittable[dict[str, Any]] = None
    filters: Omittable[dict[str, Any]] = None


class ResponseCodeInterpreterTool(BaseModel):
    type: Literal["code_interpreter"] = "code_interpreter"
    # As given: the container's id, or the `auto` object.
    container: str | dict[str, Any]


ResponseTool = Annotated[
    ResponseFunctionTool | ResponseFileSearchTool | ResponseCodeInterpreterTool,
    Field(discriminator="type"),
]


class ResponseFunctionChoice(BaseModel):
    type: Literal["function"]
    name: str


class ResponseHostedChoice(BaseModel):
    type: Literal["file_search", "code_interpreter"]


class ResponseErrorObject(BaseModel):
    code: str
    message: str


class ResponseIncomplete(BaseModel):
    reason: Literal["max_output_tokens", "content_filter"]


class ResponseInputTokensDetails(BaseModel):
    cached_tokens: int
    cache_write_tokens: int


class ResponseOutputTokensDetails(BaseModel):
    reasoning_tokens: int


class ResponseUsageObject(BaseModel):
    input_tokens: int
    input_tokens_details: ResponseInputTokensDetails
    output_tokens: int
    output_tokens_details: ResponseOutputTokensDetails
    total_tokens: int


class ConversationObjectRef(BaseModel):
    id: str


class ResponseTextFormat(Omits):
    type: Literal["text", "json_object", "json_schema"]
    name: Omittable[str] = None
    schema_: Omittable[dict[str, Any]] = Field(default=None, alias="schema")
    description: Omittable[str] = None
    strict: Omittable[bool] = None


class ResponseText(Omits):
    format: ResponseTextFormat
    verbosity: Omittable[Literal["low", "medium", "high"]] = None


class ResponseReasoning(Omits):
    effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None
    summary: Literal["auto", "concise", "detailed"] | None


OutputItem = Annotated[
    MessageItem | FunctionCallItem | FileSearchCallItem | CodeInterpreterCallItem,
    Field(discriminator="type"),
]


class ResponseObject(Wire):
    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: Literal["completed", "failed", "in_progress", "cancelled", "queued", "incomplete"]
    completed_at: int | None
    error: ResponseErrorObject | None
    incomplete_details: ResponseIncomplete | None
    instructions: str | None
    max_output_tokens: int | None
    max_tool_calls: int | None
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool
    previous_response_id: str | None
    reasoning: ResponseReasoning | None
    background: bool
    temperature: float | None
    text: ResponseText
    tool_choice: Literal["none", "auto", "required"] | ResponseFunctionChoice | ResponseHostedChoice
    tools: list[ResponseTool]
    top_p: float | None
    top_logprobs: int | None
    truncation: Literal["auto", "disabled"] | None
    usage: Omittable[ResponseUsageObject] = None
    user: Omittable[str] = None
    safety_identifier: Omittable[str] = None
    prompt_cache_key: Omittable[str] = None
    service_tier: Omittable[str] = None
    conversation: ConversationObjectRef | None
    metadata: dict[str, str]


class ResponseDeleted(Wire):
    id: str
    object: Literal["response.deleted"] = "response.deleted"
    deleted: Literal[True] = True


# -- input token counts ---------------------------------------------------------------------


class TokenCountsRequest(Request):
    """What `POST /responses/input_tokens` counts: the input of the response a
    `POST /responses` with these fields would make (the spec's TokenCountsBody)."""

    model: str | None = None
    input: InputParam | None = None
    instructions: str | None = None
    previous_response_id: str | None = None
    conversation: ConversationParam | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextParam | None = None
    reasoning: ReasoningParam | None = None
    truncation: Literal["auto", "disabled"] | None = None
    # Accepted; it changes nothing here.
    personality: Annotated[str, Field(max_length=64)] | None = None


class TokenCountsResource(Wire):
    object: Literal["response.input_tokens"] = "response.input_tokens"
    input_tokens: int


# -- compaction -----------------------------------------------------------------------------


class CompactRequest(Request):
    """`POST /responses/compact` (the spec's CompactResponseMethodPublicBody)."""

    model: str
    input: InputParam | None = None
    previous_response_id: str | None = None
    instructions: str | None = None
    # Accepted; they change nothing here.
    prompt_cache_key: Annotated[str, Field(max_length=64)] | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    prompt_cache_options: dict[str, Any] | None = None
    service_tier: (
        Literal["auto", "default", "flex", "scale", "priority", "fast", "ultrafast"] | None
    ) = None


class CompactResource(Wire):
    id: str
    object: Literal["response.compaction"] = "response.compaction"
    output: list[CompactionItem]
    created_at: int
    usage: ResponseUsageObject
