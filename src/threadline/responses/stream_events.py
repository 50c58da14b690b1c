"""The server-sent events of a response as the OpenAPI document describes them (the spec's
ResponseStreamEvent members that Threadline sends). `responses/stream.py` writes them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from threadline.conversations.schemas import AnnotationObject, OutputTextObject
from threadline.responses.schemas import OutputItem
from threadline.schemas import Shape


class LifecycleEvent(BaseModel):
    type: Literal[
        "response.created",
        "response.queued",
        "response.in_progress",
        "response.completed",
        "response.failed",
        "response.incomplete",
    ]
    sequence_number: int
    response: dict[str, Any]


class OutputItemEvent(BaseModel):
    type: Literal["response.output_item.added", "response.output_item.done"]
    sequence_number: int
    output_index: int
    item: OutputItem


class ContentPartEvent(BaseModel):
    type: Literal["response.content_part.added", "response.content_part.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    part: OutputTextObject


class TextDeltaEvent(BaseModel):
    type: Literal["response.output_text.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[dict[str, Any]]


class TextDoneEvent(BaseModel):
    type: Literal["response.output_text.done"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[dict[str, Any]]


class AnnotationAddedEvent(BaseModel):
    type: Literal["response.output_text.annotation.added"]
    sequence_number: int
    item_id: str
    output_index: int
    content_index: int
    annotation_index: int
    annotation: AnnotationObject


class ArgumentsDeltaEvent(BaseModel):
    type: Literal["response.function_call_arguments.delta"]
    sequence_number: int
    item_id: str
    output_index: int
    delta: str


class ArgumentsDoneEvent(BaseModel):
    type: Literal["response.function_call_arguments.done"]
    sequence_number: int
    item_id: str
    output_index: int
    name: str
    arguments: str


class ToolCallStateEvent(BaseModel):
    type: Literal[
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ]
    sequence_number: int
    output_index: int
    item_id: str


class CodeDeltaEvent(BaseModel):
    type: Literal["response.code_interpreter_call_code.delta"]
    sequence_number: int
    output_index: int
    item_id: str
    delta: str


class CodeDoneEvent(BaseModel):
    type: Literal["response.code_interpreter_call_code.done"]
    sequence_number: int
    output_index: int
    item_id: str
    code: str


EVENTS = (
    LifecycleEvent,
    OutputItemEvent,
    ContentPartEvent,
    TextDeltaEvent,
    TextDoneEvent,
    AnnotationAddedEvent,
    ArgumentsDeltaEvent,
    ArgumentsDoneEvent,
    ToolCallStateEvent,
    CodeDeltaEvent,
    CodeDoneEvent,
)


def stream_event_schema() -> dict[str, Any]:
    """One server-sent event of a response: its type (`event:`) with its `data:`, parsed."""
    members = []
    for model in EVENTS:
        data = Shape.schema_of(model)
        if model is LifecycleEvent:
            # The response is the document's own object, not repeated.
            data["properties"]["response"] = {"$ref": "#/components/schemas/ResponseObject"}
        names = list(model.model_fields["type"].annotation.__args__)  # type: ignore[union-attr]
        members.append(
            {
                "type": "object",
                "properties": {"event": {"type": "string", "enum": names}, "data": data},
                "required": ["event", "data"],
            }
        )
    return {"oneOf": members}
