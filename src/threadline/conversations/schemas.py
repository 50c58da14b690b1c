"""Wire models of conversations and their items (field-exact with the Responses spec's
ConversationResource, ConversationItem and the InputItem requests)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

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

ImageDetail = Literal["low", "high", "auto", "original"]
ItemStatus = Literal["in_progress", "completed", "incomplete"]
# What `include` may name (the spec's IncludeEnum); those that concern items Threadline
# makes are acted on, the others concern tools it does not have and change nothing.
Include = Literal[
    "file_search_call.results",
    "web_search_call.results",
    "web_search_call.action.sources",
    "message.input_image.image_url",
    "computer_call_output.output.image_url",
    "code_interpreter_call.outputs",
    "reasoning.encrypted_content",
    "message.output_text.logprobs",
]

# -- content parts, as sent ---------------------------------------------------------------------


class InputText(Part):
    type: Literal["input_text"]
    text: str


class InputImage(Part):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: ImageDetail = "auto"


class InputFile(Part):
    type: Literal["input_file"]
    file_id: str | None = None
    filename: str | None = None
    file_data: str | None = None
    file_url: str | None = None


class FileCitationParam(Part):
    type: Literal["file_citation"]
    file_id: str
    index: int
    filename: str


class FilePathParam(Part):
    type: Literal["file_path"]
    file_id: str
    index: int


class ContainerFileCitationParam(Part):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str
    start_index: int
    end_index: int
    filename: str


class UrlCitationParam(Part):
    type: Literal["url_citation"]
    url: str
    start_index: int
    end_index: int
    title: str


AnnotationParam = by_field(
    "type",
    {
        "file_citation": FileCitationParam,
        "file_path": FilePathParam,
        "container_file_citation": ContainerFileCitationParam,
        "url_citation": UrlCitationParam,
    },
)


class OutputText(Part):
    type: Literal["output_text"]
    text: str
    annotations: list[AnnotationParam] = Field(default_factory=list)


class Refusal(Part):
    type: Literal["refusal"]
    refusal: str


InputPart = by_field(
    "type", {"input_text": InputText, "input_image": InputImage, "input_file": InputFile}
)
AnyPart = by_field(
    "type",
    {
        "input_text": InputText,
        "input_image": InputImage,
        "input_file": InputFile,
        "output_text": OutputText,
        "refusal": Refusal,
    },
)

# -- items, as sent -----------------------------------------------------------------------------


MessageContent = one_of(
    text_or_parts,
    {"text": str, "parts": list[AnyPart]},
    expected="a string or an array of content parts",
)


class MessageItemParam(Part):
    """A message: the easy form (`type` may be left out, `content` may be a string), an input
    message, or an earlier output message sent back."""

    type: Literal["message"] = "message"
    id: str | None = None
    role: Literal["user", "assistant", "system", "developer"]
    content: MessageContent
    status: ItemStatus | None = None
    phase: Literal["commentary", "final_answer"] | None = None


class FunctionCallParam(Part):
    type: Literal["function_call"]
    id: str | None = None
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    name: Annotated[str, Field(min_length=1, max_length=128)]
    arguments: str
    status: ItemStatus | None = None


FunctionOutput = one_of(
    text_or_parts,
    {"text": Annotated[str, Field(max_length=10_485_760)], "parts": list[InputPart]},
    expected="a string or an array of content parts",
)


class FunctionCallOutputParam(Part):
    type: Literal["function_call_output"]
    id: str | None = None
    call_id: Annotated[str, Field(min_length=1, max_length=64)]
    output: FunctionOutput
    status: ItemStatus | None = None


class CompactionItemParam(Part):
    type: Literal["compaction"]
    id: str | None = None
    encrypted_content: Annotated[str, Field(max_length=20_971_520)]


class ItemReferenceParam(Part):
    type: Literal["item_reference"] | None = "item_reference"
    id: str


def _item_kind(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    kind = value.get("type")
    if "type" not in value and "role" in value:
        return "message"  # the easy message has no `type`
    if kind is None and set(value) <= {"id", "type"}:
        return "item_reference"  # whose `type` may be left out or null
    return kind if isinstance(kind, str) else None


InputItem = one_of(
    _item_kind,
    {
        "message": MessageItemParam,
        "function_call": FunctionCallParam,
        "function_call_output": FunctionCallOutputParam,
        "item_reference": ItemReferenceParam,
        "compaction": CompactionItemParam,
    },
)
Items = Annotated[list[InputItem], Field(max_length=20)]


class CreateConversationRequest(Request):
    metadata: Metadata | None = None
    items: Items | None = None


class UpdateConversationRequest(Request):
    metadata: Metadata


class CreateItemsRequest(Request):
    items: Items


# -- as returned --------------------------------------------------------------------------------


class ConversationObject(Wire):
    id: str
    object: Literal["conversation"] = "conversation"
    created_at: int
    metadata: dict[str, str]


class ConversationDeleted(Wire):
    id: str
    object: Literal["conversation.deleted"] = "conversation.deleted"
    deleted: Literal[True] = True


class InputTextObject(BaseModel):
    type: Literal["input_text"]
    text: str


class InputImageObject(Omits):
    type: Literal["input_image"]
    detail: ImageDetail
    file_id: Omittable[str] = None
    image_url: Omittable[str] = None


class InputFileObject(Omits):
    type: Literal["input_file"]
    file_id: Omittable[str] = None
    filename: Omittable[str] = None
    file_data: Omittable[str] = None
    file_url: Omittable[str] = None


class FileCitationObject(BaseModel):
    type: Literal["file_citation"]
    file_id: str
    index: int
    filename: str


class FilePathObject(BaseModel):
    type: Literal["file_path"]
    file_id: str
    index: int


class ContainerFileCitationObject(BaseModel):
    type: Literal["container_file_citation"]
    container_id: str
    file_id: str
    start_index: int
    end_index: int
    filename: str


class UrlCitationObject(BaseModel):
    type: Literal["url_citation"]
    url: str
    start_index: int
    end_index: int
    title: str


AnnotationObject = Annotated[
    FileCitationObject | FilePathObject | ContainerFileCitationObject | UrlCitationObject,
    Field(discriminator="type"),
]


InputObject = Annotated[
    InputTextObject | InputImageObject | InputFileObject, Field(discriminator="type")
]


class OutputTextObject(BaseModel):
    type: Literal["output_text"]
    text: str
    annotations: list[AnnotationObject]
    logprobs: list[dict[str, Any]]


class RefusalObject(BaseModel):
    type: Literal["refusal"]
    refusal: str


ContentObject = Annotated[
    InputTextObject | InputImageObject | InputFileObject | OutputTextObject | RefusalObject,
    Field(discriminator="type"),
]


class MessageItem(Wire):
    type: Literal["message"] = "message"
    id: str
    status: ItemStatus
    role: Literal["user", "assistant", "system", "developer"]
    content: list[ContentObject]


class FunctionCallItem(Wire):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: ItemStatus


class FunctionCallOutputItem(Wire):
    type: Literal["function_call_output"] = "function_call_output"
    id: str
    call_id: str
    output: str | list[InputObject]
    status: ItemStatus


class FileSearchCallResult(Omits):
    file_id: str
    filename: str
    score: float
    text: str
    attributes: Omittable[dict[str, str | float | bool]] = None


class FileSearchCallItem(Wire):
    type: Literal["file_search_call"] = "file_search_call"
    id: str
    status: Literal["in_progress", "searching", "completed", "incomplete", "failed"]
    queries: list[str]
    # With `include=file_search_call.results`; null otherwise.
    results: list[FileSearchCallResult] | None


class CodeInterpreterLogs(BaseModel):
    type: Literal["logs"]
    logs: str


class CodeInterpreterImage(BaseModel):
    type: Literal["image"]
    url: str


class CodeInterpreterCallItem(Wire):
    type: Literal["code_interpreter_call"] = "code_interpreter_call"
    id: str
    status: Literal["in_progress", "completed", "incomplete", "interpreting", "failed"]
    container_id: str
    code: str | None
    # With `include=code_interpreter_call.outputs`; null otherwise.
    outputs: (
        list[Annotated[CodeInterpreterLogs | CodeInterpreterImage, Field(discriminator="type")]]
        | None
    )


class CompactionItem(Wire):
    type: Literal["compaction"] = "compaction"
    id: str
    encrypted_content: str


ConversationItem = Annotated[
    MessageItem
    | FunctionCallItem
    | FunctionCallOutputItem
    | FileSearchCallItem
    | CodeInterpreterCallItem
    | CompactionItem,
    Field(discriminator="type"),
]


class ItemList(Wire):
    object: Literal["list"] = "list"
    data: list[ConversationItem]
    first_id: str
    last_id: str
    has_more: bool
