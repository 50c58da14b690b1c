"""Wire models of assistants (field-exact with AssistantObject and its requests)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from threadline.schemas import Metadata, Part, Request, Shape, Wire, by_field, one_of
from threadline.tools.schemas import (
    FUNCTION_NAME,
    Tool,
    ToolObject,
    ToolResources,
    ToolResourcesObject,
    ToolResourcesWithCreate,
)

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class TextFormat(Part):
    type: Literal["text"]


class JsonObjectFormat(Part):
    type: Literal["json_object"]


class JsonSchemaSpec(Part):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=FUNCTION_NAME)]
    description: str | None = None
    schema_: Annotated[dict[str, Any] | None, Field(alias="schema")] = None
    strict: bool | None = None


class JsonSchemaFormat(Part):
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


_FormatObject = by_field(
    "type", {"text": TextFormat, "json_object": JsonObjectFormat, "json_schema": JsonSchemaFormat}
)


def _format_kind(value: Any) -> str | None:
    if value == "auto":
        return "auto"
    if isinstance(value, dict):
        return "object"
    return None


ResponseFormat = one_of(
    _format_kind,
    {"auto": Literal["auto"], "object": _FormatObject},
    expected="'auto' or an object",
)


def response_format_to_wire(value: Any) -> Any:
    if value is None or value == "auto":
        return "auto"
    return value.model_dump(by_alias=True, exclude_none=True)


Temperature = Annotated[float, Field(ge=0, le=2)]
TopP = Annotated[float, Field(ge=0, le=1)]
Model = Annotated[str, Field(min_length=1, max_length=256)]


class CreateAssistantRequest(Request):
    model: Model
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=256_000)] | None = None
    reasoning_effort: ReasoningEffort | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_resources: ToolResourcesWithCreate | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None


class ModifyAssistantRequest(Request):
    model: Model | None = None
    reasoning_effort: ReasoningEffort | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=256_000)] | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    response_format: ResponseFormat | None = None


# -- as returned: documented shapes (`Shape`); optional keys have a default --------------------


class TextFormatObject(BaseModel):
    type: Literal["text"]


class JsonObjectFormatObject(BaseModel):
    type: Literal["json_object"]


class JsonSchemaObject(BaseModel):
    name: str
    description: str = None  # type: ignore[assignment]
    schema_: dict[str, Any] = Field(None, alias="schema")  # type: ignore[assignment]
    strict: bool = None  # type: ignore[assignment]


class JsonSchemaFormatObject(BaseModel):
    type: Literal["json_schema"]
    json_schema: JsonSchemaObject


ResponseFormatObject = (
    Literal["auto"] | TextFormatObject | JsonObjectFormatObject | JsonSchemaFormatObject
)


class AssistantObject(Wire):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None
    description: str | None
    model: str
    instructions: str | None
    tools: Annotated[list[dict[str, Any]], Shape(list[ToolObject])]
    tool_resources: Annotated[dict[str, Any] | None, Shape(ToolResourcesObject | None)]
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")
    temperature: float | None
    top_p: float | None
    response_format: Annotated[Any, Shape(ResponseFormatObject)]
