"""The server-sent events of a run as the OpenAPI document describes them: each event's name
with the object its `data` carries (documented shapes, `Shape`; optional keys have a
default). The engine writes the events (`engine/recorder.py`); these only describe them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from threadline.events.names import STORED_ONLY, EventName
from threadline.runs.schemas import CodeImageOutput, CodeLogsOutput, FileSearchCallObject
from threadline.schemas import Shape
from threadline.threads.schemas import FileCitationAnnotation, FilePathAnnotation
from threadline.tools.schemas import plugin_shape


# In a delta, each annotation and each output carries its place in the whole (`index`), by
# which clients merge them.
class FileCitationDelta(FileCitationAnnotation):
    index: int


class FilePathDelta(FilePathAnnotation):
    index: int


class CodeLogsDelta(CodeLogsOutput):
    index: int


class CodeImageDelta(CodeImageOutput):
    index: int


class TextDelta(BaseModel):
    value: str
    annotations: list[FileCitationDelta | FilePathDelta] = None  # type: ignore[assignment]  # first


class TextDeltaPart(BaseModel):
    index: int
    type: Literal["text"]
    text: TextDelta


class MessageDelta(BaseModel):
    content: list[TextDeltaPart]


class MessageDeltaObject(BaseModel):
    id: str
    object: Literal["thread.message.delta"]
    delta: MessageDelta


class FunctionDelta(BaseModel):
    name: str = None  # type: ignore[assignment]  # the first delta of a call names it
    arguments: str
    output: None = None


class FunctionCallDelta(BaseModel):
    index: int
    id: str = None  # type: ignore[assignment]
    type: Literal["function"]
    function: FunctionDelta


class CodeInterpreterDelta(BaseModel):
    input: str = None  # type: ignore[assignment]
    outputs: list[CodeLogsDelta | CodeImageDelta] = None  # type: ignore[assignment]


class CodeInterpreterCallDelta(BaseModel):
    index: int
    id: str = None  # type: ignore[assignment]
    type: Literal["code_interpreter"]
    code_interpreter: CodeInterpreterDelta


class FileSearchCallDelta(BaseModel):
    index: int
    id: str = None  # type: ignore[assignment]
    type: Literal["file_search"]
    file_search: FileSearchCallObject


class PluginCallDelta(BaseModel):
    """A plug-in tool's call as it is written: its index and type, and parts of its own."""

    model_config = plugin_shape(index={"type": "integer"})

    index: int
    type: str


class ToolCallsDelta(BaseModel):
    type: Literal["tool_calls"]
    tool_calls: list[
        FunctionCallDelta | CodeInterpreterCallDelta | FileSearchCallDelta | PluginCallDelta
    ]


class StepDelta(BaseModel):
    step_details: ToolCallsDelta


class RunStepDeltaObject(BaseModel):
    id: str
    object: Literal["thread.run.step.delta"]
    delta: StepDelta


def _names(prefix: str) -> list[str]:
    """The names of the streamed events that start with `prefix`, deltas apart."""
    return [
        name.value
        for name in EventName
        if name.value.startswith(prefix)
        and not name.value.endswith(".delta")
        and name not in STORED_ONLY
        and (prefix != "thread.run." or not name.value.startswith("thread.run.step."))
    ]


def _event(names: list[str], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"event": {"type": "string", "enum": names}, "data": data},
        "required": ["event", "data"],
    }


def _object(name: str) -> dict[str, Any]:
    """An object the document has as a response model: referenced, not repeated."""
    return {"$ref": f"#/components/schemas/{name}"}


def stream_event_schema() -> dict[str, Any]:
    """One server-sent event of a run: its name (`event:`) with its `data:`, parsed."""
    return {
        "oneOf": [
            _event(["thread.created"], _object("ThreadObject")),
            _event(_names("thread.run."), _object("RunObject")),
            _event(_names("thread.run.step."), _object("RunStepObject")),
            _event(["thread.run.step.delta"], Shape.schema_of(RunStepDeltaObject)),
            _event(_names("thread.message."), _object("MessageObject")),
            _event(["thread.message.delta"], Shape.schema_of(MessageDeltaObject)),
            _event(["done"], {"const": "[DONE]"}),
        ]
    }
