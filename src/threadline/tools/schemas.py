"""Tool definitions and tool resources, as assistants, threads and runs carry them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator

from threadline.schemas import Metadata, Omits, Omittable, Part, by_field
from threadline.vector_stores.schemas import ChunkingStrategy

FUNCTION_NAME = r"^[a-zA-Z0-9_-]+$"
DEFAULT_RANKER = "default_2024_08_21"
BUILTIN_TYPES = ("code_interpreter", "file_search", "function")


class RankingOptions(Part):
    ranker: Literal["auto", "default_2024_08_21"] | None = None
    score_threshold: Annotated[float, Field(ge=0, le=1)]


class FileSearchOptions(Part):
    max_num_results: Annotated[int, Field(ge=1, le=50)] | None = None
    ranking_options: RankingOptions | None = None


class FunctionDefinition(Part):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=FUNCTION_NAME)]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class CodeInterpreterTool(Part):
    type: Literal["code_interpreter"]


class FileSearchTool(Part):
    type: Literal["file_search"]
    file_search: FileSearchOptions | None = None


class FileSearchToolTypeOnly(Part):
    type: Literal["file_search"]


class FunctionTool(Part):
    type: Literal["function"]
    function: FunctionDefinition


class PluginTool(Part):
    """The entry of a plug-in tool (`tools/registry.py`): its type, and options of its own."""

    model_config = ConfigDict(strict=True, extra="allow")

    type: str


# The types of the plug-in tools this process loaded.
_PLUGIN_TYPES: set[str] = set()


def accept_plugin_type(tool_type: str) -> None:
    _PLUGIN_TYPES.add(tool_type)


def _plugin_or(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # A type of the wrong JSON type (`{"type": {}}`) is no plug-in's: the union refuses it.
    if (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and (value["type"] in _PLUGIN_TYPES)
    ):
        return PluginTool.model_validate(value)
    return handler(value)


Tool = Annotated[
    by_field(
        "type",
        {
            "code_interpreter": CodeInterpreterTool,
            "file_search": FileSearchTool,
            "function": FunctionTool,
        },
    ),
    WrapValidator(_plugin_or),
]
# The tools a message attachment may name.
AttachmentTool = by_field(
    "type", {"code_interpreter": CodeInterpreterTool, "file_search": FileSearchToolTypeOnly}
)


def tool_to_wire(
    tool: CodeInterpreterTool | FileSearchTool | FunctionTool | PluginTool,
) -> dict[str, Any]:
    """The stored and returned form of a tool, with the hosted API's defaults filled in."""
    if isinstance(tool, PluginTool):
        return tool.model_dump()
    if isinstance(tool, FunctionTool):
        fn = tool.function
        return {
            "type": "function",
            "function": {
                "name": fn.name,
                "description": fn.description,
                "parameters": fn.parameters,
                "strict": bool(fn.strict),
            },
        }
    if isinstance(tool, FileSearchTool):
        options = tool.file_search or FileSearchOptions()
        ranking = options.ranking_options
        return {
            "type": "file_search",
            "file_search": {
                "max_num_results": options.max_num_results,
                "ranking_options": {
                    "ranker": (ranking.ranker if ranking and ranking.ranker else DEFAULT_RANKER),
                    "score_threshold": ranking.score_threshold if ranking else 0.0,
                },
            },
        }
    return {"type": tool.type}


# -- tool resources ---------------------------------------------------------------------------


class CodeInterpreterResources(Part):
    file_ids: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)


class NewVectorStore(Part):
    # The spec's bound (far beyond what one request carries in practice).
    file_ids: Annotated[list[str], Field(max_length=100_000_000)] = Field(default_factory=list)
    chunking_strategy: ChunkingStrategy | None = None
    metadata: Metadata | None = None


class FileSearchResources(Part):
    vector_store_ids: Annotated[list[str], Field(max_length=1)] | None = None


class FileSearchResourcesWithCreate(FileSearchResources):
    # A helper of create requests: build a vector store from files on the spot.
    vector_stores: Annotated[list[NewVectorStore], Field(max_length=1)] | None = None


class ToolResources(Part):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class ToolResourcesWithCreate(Part):
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResourcesWithCreate | None = None


# -- as returned: documented shapes (`Shape`); optional keys have a default -----------------


class FunctionObject(Omits):
    name: str
    description: Omittable[str]
    parameters: Omittable[dict[str, Any]]
    strict: bool


class FunctionToolObject(BaseModel):
    type: Literal["function"]
    function: FunctionObject


class RankingOptionsObject(BaseModel):
    ranker: str
    score_threshold: float


class FileSearchObject(Omits):
    max_num_results: Omittable[int]
    ranking_options: RankingOptionsObject


class FileSearchToolObject(BaseModel):
    type: Literal["file_search"]
    file_search: FileSearchObject


class CodeInterpreterToolObject(BaseModel):
    type: Literal["code_interpreter"]


def plugin_shape(**properties: dict[str, Any]) -> ConfigDict:
    """The config of a documented shape of a plug-in tool's part: open to keys of its own,
    its `type` none of the built-in ones (so that a built-in part matches its own shape
    only), with `properties` as documented."""
    builtin = {"type": "string", "not": {"enum": list(BUILTIN_TYPES)}}
    return ConfigDict(
        extra="allow", json_schema_extra={"properties": {**properties, "type": builtin}}
    )


class PluginToolObject(BaseModel):
    """A plug-in tool's entry: its type, and options of its own."""

    model_config = plugin_shape()

    type: str


ToolObject = (
    FunctionToolObject | FileSearchToolObject | CodeInterpreterToolObject | PluginToolObject
)


class CodeInterpreterResourcesObject(BaseModel):
    file_ids: list[str]


class FileSearchResourcesObject(BaseModel):
    vector_store_ids: list[str]


class ToolResourcesObject(BaseModel):
    """Only the sections given; never null."""

    code_interpreter: CodeInterpreterResourcesObject = None  # type: ignore[assignment]
    file_search: FileSearchResourcesObject = None  # type: ignore[assignment]
