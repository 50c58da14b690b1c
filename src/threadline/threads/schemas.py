"""Wire models of threads and messages (field-exact with ThreadObject and MessageObject)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from threadline.errors import invalid
from threadline.schemas import (
    EmptyList,
    Metadata,
    Part,
    Request,
    Shape,
    Wire,
    by_field,
    one_of,
    text_or_parts,
)
from threadline.tools.schemas import (
    AttachmentTool,
    ToolResources,
    ToolResourcesObject,
    ToolResourcesWithCreate,
)

Detail = Literal["auto", "low", "high"]


def _is_image_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return True
    return parts.scheme == "data" and url[5:].startswith("image/")


def check_image_url(url: str, param: str) -> str:
    """`url` when it is one an image can be read from (http(s), or a data URL of an image)."""
    if _is_image_url(url):
        return url
    raise invalid(
        f"Invalid '{param}': expected an http(s) URL or a data URL of an image, but got "
        f"'{url[:100]}'.",
        param=param,
    )


def _check_url(url: str) -> str:
    if _is_image_url(url):
        return url
    raise PydanticCustomError(
        "invalid_value",
        "Invalid URL: expected an http(s) URL or a data URL of an image, but got '{url}'.",
        {"url": url[:100]},
    )


class TextPart(Part):
    type: Literal["text"]
    text: str


class ImageFile(Part):
    file_id: str
    detail: Detail | None = None


class ImageFilePart(Part):
    type: Literal["image_file"]
    image_file: ImageFile


class ImageUrl(Part):
    url: Annotated[str, AfterValidator(_check_url)]
    detail: Detail | None = None


class ImageUrlPart(Part):
    type: Literal["image_url"]
    image_url: ImageUrl


ContentPart = by_field(
    "type", {"text": TextPart, "image_file": ImageFilePart, "image_url": ImageUrlPart}
)


Content = one_of(
    text_or_parts,
    {"text": str, "parts": Annotated[list[ContentPart], Field(min_length=1)]},
    expected="a string or an array of content parts",
)


class Attachment(Part):
    file_id: str
    tools: list[AttachmentTool]


class CreateMessageRequest(Request):
    role: Literal["user", "assistant"]
    content: Content
    attachments: list[Attachment] | None = None
    metadata: Metadata | None = None


class ModifyMessageRequest(Request):
    metadata: Metadata | None = None


class CreateThreadRequest(Request):
    messages: list[CreateMessageRequest] | None = None
    tool_resources: ToolResourcesWithCreate | None = None
    metadata: Metadata | None = None


class ModifyThreadRequest(Request):
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None


# -- as returned: documented shapes (`Shape`) ----------------------------------------------------


class FileCitation(BaseModel):
    file_id: str


class FileCitationAnnotation(BaseModel):
    type: Literal["file_citation"]
    text: str
    file_citation: FileCitation
    start_index: int
    end_index: int


class FilePath(BaseModel):
    file_id: str


class FilePathAnnotation(BaseModel):
    type: Literal["file_path"]
    text: str
    file_path: FilePath
    start_index: int
    end_index: int


class TextValue(BaseModel):
    value: str
    annotations: list[FileCitationAnnotation | FilePathAnnotation]


class TextContentPart(BaseModel):
    type: Literal["text"]
    text: TextValue


class ImageFileObject(BaseModel):
    file_id: str
    detail: Literal["auto", "low", "high"]


class ImageFileContentPart(BaseModel):
    type: Literal["image_file"]
    image_file: ImageFileObject


class ImageUrlObject(BaseModel):
    url: str
    detail: Literal["auto", "low", "high"]


class ImageUrlContentPart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageUrlObject


class RefusalContentPart(BaseModel):
    type: Literal["refusal"]
    refusal: str


MessageContentPart = (
    TextContentPart | ImageFileContentPart | ImageUrlContentPart | RefusalContentPart
)
# The parts a thread message is read with here; a message added through the Conversations
# API may hold others (an `input_file` without a file id), kept for that API alone.
ASSISTANTS_PARTS = ("text", "image_file", "image_url", "refusal")
# The roles the Assistants API has; a conversation's system and developer messages are kept
# in the thread and read only through the Conversations API.
ASSISTANTS_ROLES = ("user", "assistant")


def _assistants_parts(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [part for part in content if part.get("type") in ASSISTANTS_PARTS]


class AttachmentToolObject(BaseModel):
    type: Literal["code_interpreter", "file_search"]


class AttachmentObject(BaseModel):
    file_id: str
    tools: list[AttachmentToolObject]


class IncompleteDetailsObject(BaseModel):
    reason: str


class ThreadObject(Wire):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    tool_resources: Annotated[dict[str, Any] | None, Shape(ToolResourcesObject | None)]
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")


class MessageObject(Wire):
    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: Literal["in_progress", "incomplete", "completed"]
    incomplete_details: Annotated[dict[str, Any] | None, Shape(IncompleteDetailsObject | None)]
    completed_at: int | None
    incomplete_at: int | None
    role: Literal["user", "assistant"]
    content: Annotated[
        list[dict[str, Any]], BeforeValidator(_assistants_parts), Shape(list[MessageContentPart])
    ]
    assistant_id: str | None
    run_id: str | None
    attachments: Annotated[EmptyList, Shape(list[AttachmentObject])]
    metadata: dict[str, str] | None = Field(validation_alias="metadata_")


def content_to_wire(content: str | list[Any]) -> list[dict[str, Any]]:
    """The stored and returned form of message content."""
    if isinstance(content, str):
        return [text_part(content)]
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            parts.append(text_part(part.text))
        elif isinstance(part, ImageFilePart):
            image = part.image_file
            parts.append(
                {
                    "type": "image_file",
                    "image_file": {"file_id": image.file_id, "detail": image.detail or "auto"},
                }
            )
        else:
            image_url = part.image_url
            parts.append(
                {
                    "type": "image_url",
                    "image_url": {"url": image_url.url, "detail": image_url.detail or "auto"},
                }
            )
    return parts


def text_part(value: str) -> dict[str, Any]:
    return {"type": "text", "text": {"value": value, "annotations": []}}
