"""Wire models of runs and run steps (field-exact with RunObject and RunStepObject)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from threadline.assistants.schemas import (
    Model,
    ReasoningEffort,
    ResponseFormat,
    ResponseFormatObject,
    Temperature,
    TopP,
)
from threadline.runs.models import TERMINAL_STATUSES
from threadline.schemas import (
    COLUMN_INT_MAX,
    LastErrorObject,
    Metadata,
    Part,
    Request,
    Shape,
    Wire,
    one_of,
)
from threadline.threads.schemas import (
    CreateMessageRequest,
    CreateThreadRequest,
    IncompleteDetailsObject,
)
from threadline.tools.file_search import query_of
from threadline.tools.schemas import (
    RankingOptionsObject,
    Tool,
    ToolObject,
    ToolResources,
    plugin_shape,
)

STEP_TERMINAL_STATUSES = ("cancelled", "failed", "completed", "expired")

FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
# A Threadline extension (docs/console.md): the query a file_search call searched for, which
# the official step object has no field for. Only asked for, it never changes the standard
# object for a client that does not ask.
FILE_SEARCH_QUERY = "step_details.tool_calls[*].file_search.query"
Include = Literal[
    "step_details.tool_calls[*].file_search.results[*].content",
    "step_details.tool_calls[*].file_search.query",
]


# A run that names no truncation strategy has this one (the spec's default), stored so.
AUTO_TRUNCATION: dict[str, Any] = {"type": "auto", "last_messages": None}


class ModifyRunRequest(Request):
    metadata: Metadata | None = None


class TruncationStrategy(Part):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1, le=COLUMN_INT_MAX)] | None = None


class FunctionName(Part):
    name: str


class NamedToolChoice(Part):
    type: Literal["function", "code_interpreter", "file_search"]
    function: FunctionName | None = None

    @model_validator(mode="after")
    def _function_named(self) -> NamedToolChoice:
        if self.type == "function" and self.function is None:
            raise PydanticCustomError(
                "missing_required_parameter",
                "Missing required parameter: 'tool_choice.function'.",
            )
        return self


def _tool_choice_kind(value: Any) -> str | None:
    if value in ("none", "auto", "required"):
        return "mode"
    if isinstance(value, dict):
        return "named"
    return None


ToolChoice = one_of(
    _tool_choice_kind,
    {"mode": Literal["none", "auto", "required"], "named": NamedToolChoice},
    expected="'none', 'auto', 'required' or an object",
)
RunTools = Annotated[list[Tool], Field(max_length=20)]
TokenBudget = Annotated[int, Field(ge=256, le=COLUMN_INT_MAX)]


class RunOptions(Request):
    """What a run may override of its assistant, common to both ways of creating one."""

    assistant_id: str
    model: Model | None = None
    instructions: str | None = None
    tools: RunTools | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    stream: bool | None = None
    max_prompt_tokens: TokenBudget | None = None
    max_completion_tokens: TokenBudget | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None


class CreateRunRequest(RunOptions):
    reasoning_effort: ReasoningEffort | None = None
    additional_instructions: str | None = None
    additional_messages: list[CreateMessageRequest] | None = None


class CreateThreadAndRunRequest(RunOptions):
    thread: CreateThreadRequest | None = None
    tool_resources: ToolResources | None = None


class ToolOutput(Part):
    tool_call_id: str
    output: str = ""


class SubmitToolOutputsRequest(Request):
    tool_outputs: list[ToolOutput]
    stream: bool | None = None


# -- as returned: documented shapes (`Shape`); optional keys have a default --------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TruncationStrategyObject(BaseModel):
    type: Literal["auto", "last_messages"]
    last_messages: int | None


class FunctionNameObject(BaseModel):
    name: str


class NamedToolChoiceObject(BaseModel):
    type: Literal["function", "code_interpreter", "file_search"]
    function: FunctionNameObject = None  # type: ignore[assignment]


ToolChoiceObject = Literal["none", "auto", "required"] | NamedToolChoiceObject


class CalledFunction(BaseModel):
    name: str
    arguments: str


class RequiredToolCall(BaseModel):
    id: str
    type: Literal["function"]
    function: CalledFunction


class SubmitToolOutputsAction(BaseModel):
    tool_calls: list[RequiredToolCall]


class RequiredActionObject(BaseModel):
    type: Literal["submit_tool_outputs"]
    submit_tool_outputs: SubmitToolOutputsAction


class MessageCreation(BaseModel):
    message_id: str


class MessageCreationDetails(BaseModel):
    type: Literal["message_creation"]
    message_creation: MessageCreation


class FunctionCallFunction(BaseModel):
    name: str
    arguments: str
    output: str | None


class FunctionToolCall(BaseModel):
    id: str
    type: Literal["function"]
    function: FunctionCallFunction


class FileSearchResultContent(BaseModel):
    type: Literal["text"]
    text: str


class FileSearchResultObject(BaseModel):
    file_id: str
    file_name: str
    score: float
    content: list[FileSearchResultContent] = None  # type: ignore[assignment]  # on request


class FileSearchCallObject(BaseModel):
    ranking_options: RankingOptionsObject = None  # type: ignore[assignment]
    results: list[FileSearchResultObject] = None  # type: ignore[assignment]
    query: str = None  # type: ignore[assignment]  # the extension, on request


class FileSearchToolCall(BaseModel):
    id: str
    type: Literal["file_search"]
    file_search: FileSearchCallObject


class CodeLogsOutput(BaseModel):
    type: Literal["logs"]
    logs: str


class CodeImage(BaseModel):
    file_id: str


class CodeImageOutput(BaseModel):
    type: Literal["image"]
    image: CodeImage


class CodeInterpreterCallObject(BaseModel):
    input: str
    outputs: list[CodeLogsOutput | CodeImageOutput]


class CodeInterpreterToolCall(BaseModel):
    id: str
    type: Literal["code_interpreter"]
    code_interpreter: CodeInterpreterCallObject


class PluginToolCall(BaseModel):
    """A plug-in tool's call: its id and type, and details of its own."""

    model_config = plugin_shape(id={"type": "string"})

    id: str
    type: str


class ToolCallsDetails(BaseModel):
    type: Literal["tool_calls"]
    tool_calls: list[
        FunctionToolCall | FileSearchToolCall | CodeInterpreterToolCall | PluginToolCall
    ]


StepDetails = MessageCreationDetails | ToolCallsDetails


class RunObject(Wire):
    id: str
    object: Literal["thread.run"] = "thread.run"
    created_at: int
    thread_id: str
    assistant_id: str
    status: Literal[
        "queued",
        "in_progress",
        "requires_action",
        "cancelling",
        "cancelled",
        "failed",
        "completed",
        "incomplete",
        "expired",
    ]
    required_action: Annotated[dict[str, Any] | None, Shape(RequiredActionObject | None)]
    last_error: Annotated[dict[str, Any] | None, Shape(LastErrorObject | None)]
    expires_at: int | None
    started_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    incomplete_details: Annotated[dict[str, Any] | None, Shape(IncompleteDetailsObject | None)]
    model: str
    instructions: str
    tools: Annotated[list[dict[str, Any]], Shape(list[ToolObject])]
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")
    usage: Annotated[dict[str, int] | None, Shape(Usage | None)]
    temperature: float | None
    top_p: float | None
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: Annotated[
        dict[str, Any],
        BeforeValidator(lambda stored: AUTO_TRUNCATION if stored is None else stored),
        Shape(TruncationStrategyObject),
    ]
    tool_choice: Annotated[Any, Shape(ToolChoiceObject)]
    parallel_tool_calls: bool
    response_format: Annotated[Any, Shape(ResponseFormatObject)]

    @model_validator(mode="after")
    def _usage_once_terminal(self) -> RunObject:
        # Usage is counted as the run goes, and shown once it has ended.
        if self.status not in TERMINAL_STATUSES:
            self.usage = None
        return self


class RunStepObject(Wire):
    id: str
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int
    assistant_id: str
    thread_id: str
    run_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: Annotated[dict[str, Any], Shape(StepDetails)]
    last_error: Annotated[dict[str, Any] | None, Shape(LastErrorObject | None)]
    expired_at: int | None
    cancelled_at: int | None
    failed_at: int | None
    completed_at: int | None
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")
    usage: Annotated[dict[str, int] | None, Shape(Usage | None)]

    @model_validator(mode="after")
    def _usage_once_terminal(self) -> RunStepObject:
        if self.status not in STEP_TERMINAL_STATUSES:
            self.usage = None
        return self


def step_details_to_wire(
    details: dict[str, Any], include: frozenset[str], inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Step details as returned: file search result `content` only when `include[]` asks,
    and the search's query (from the step's kept `inputs`) only when the extension asks."""
    with_content = FILE_SEARCH_CONTENT in include
    with_query = FILE_SEARCH_QUERY in include and inputs is not None
    if details.get("type") != "tool_calls" or (with_content and not with_query):
        return details
    calls = []
    for call in details.get("tool_calls", []):
        if call.get("type") == "file_search":
            search = dict(call.get("file_search", {}))
            if "results" in search and not with_content:
                search["results"] = [
                    {key: value for key, value in result.items() if key != "content"}
                    for result in search["results"]
                ]
            if with_query and inputs is not None:
                search["query"] = query_of(inputs.get(call.get("id"), {}).get("arguments", ""))
            call = {**call, "file_search": search}
        calls.append(call)
    return {**details, "tool_calls": calls}
