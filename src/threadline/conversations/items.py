"""A thread's messages and calls as conversation items, and items as a thread's rows.

One store serves both APIs (docs/architecture.md, "One store, two APIs"): a message is
kept once, in the Assistants shape, and read as an item here; a run's function calls stay in
its steps and read as `function_call` and `function_call_output` items. What the Responses
shapes hold beyond the Assistants ones (an `input_file` without a file id, a citation by
URL, an image's `original` detail, a developer message) is kept beside it, in keys the
Assistants serializers do not read, and given back here.
"""

from __future__ import annotations

from typing import Any

from threadline import ids
from threadline.conversations.models import Compaction, ConversationItem
from threadline.conversations.schemas import (
    FileCitationParam,
    FilePathParam,
    FunctionCallOutputParam,
    FunctionCallParam,
    InputFile,
    InputImage,
    InputText,
    MessageItemParam,
    OutputText,
    Refusal,
)
from threadline.errors import invalid
from threadline.runs.models import RunStep
from threadline.threads.models import Message
from threadline.threads.schemas import check_image_url, text_part
from threadline.tools.file_search import query_of

# Keys kept beside the Assistants shapes, for what only the Responses shapes hold.
EXTRA_ANNOTATIONS = "responses_annotations"
ORIGINAL_DETAIL = "responses_detail"
INPUT_FILE = "input_file"
# Answers come after their call: a call's output sits just after the call's own place.
AFTER_CALL = "~"


def position(item_id: str) -> str:
    """An item's place in its conversation: ids are time-ordered after their prefix, and an
    output of a run's call (`fco_X`) sits right after the call (`fc_X`)."""
    place = ids.body(item_id)
    return place + AFTER_CALL if item_id.startswith(ids.FUNCTION_CALL_OUTPUT) else place


# -- reading --------------------------------------------------------------------------------


def message_item(message: Message, filenames: dict[str, str]) -> dict[str, Any]:
    """A thread message as a `message` item; `filenames` names the files its citations
    cite."""
    content: list[dict[str, Any]] = []
    for part in message.content:
        kind = part.get("type")
        if kind == "text":
            text = part["text"]
            if message.role == "assistant":
                annotations = [_annotation(a, filenames) for a in text.get("annotations", [])]
                content.append(
                    {
                        "type": "output_text",
                        "text": text["value"],
                        "annotations": annotations + list(text.get(EXTRA_ANNOTATIONS, [])),
                        "logprobs": [],
                    }
                )
            else:
                content.append({"type": "input_text", "text": text["value"]})
        elif kind == "image_file":
            image = part["image_file"]
            detail = part.get(ORIGINAL_DETAIL) or image.get("detail") or "auto"
            content.append({"type": "input_image", "file_id": image["file_id"], "detail": detail})
        elif kind == "image_url":
            image = part["image_url"]
            detail = part.get(ORIGINAL_DETAIL) or image.get("detail") or "auto"
            content.append({"type": "input_image", "image_url": image["url"], "detail": detail})
        elif kind == "refusal":
            content.append({"type": "refusal", "refusal": part["refusal"]})
        elif kind == "input_file":
            content.append(part)
    for attachment in message.attachments or []:
        found = {"type": "input_file", "file_id": attachment["file_id"]}
        if attachment.get("filename"):
            found["filename"] = attachment["filename"]
        content.append(found)
    return {
        "type": "message",
        "id": message.id,
        "status": message.status,
        "role": message.role,
        "content": content,
    }


def _annotation(annotation: dict[str, Any], filenames: dict[str, str]) -> dict[str, Any]:
    if annotation["type"] == "file_citation":
        file_id = annotation["file_citation"]["file_id"]
        return {
            "type": "file_citation",
            "file_id": file_id,
            "index": annotation.get("index", annotation["end_index"]),
            "filename": annotation.get("filename") or filenames.get(file_id, ""),
        }
    return {
        "type": "file_path",
        "file_id": annotation["file_path"]["file_id"],
        "index": annotation.get("index", annotation["start_index"]),
    }


def cited_files(messages: list[Message]) -> set[str]:
    """The files the messages' citations name without their filename."""
    return {
        annotation["file_citation"]["file_id"]
        for message in messages
        for part in message.content
        if part.get("type") == "text"
        for annotation in part["text"].get("annotations", [])
        if annotation.get("type") == "file_citation" and not annotation.get("filename")
    }


RESULTS = "file_search_call.results"
OUTPUTS = "code_interpreter_call.outputs"


def step_items(
    step: RunStep, include: frozenset[str] = frozenset()
) -> list[tuple[str, dict[str, Any]]]:
    """A run's calls as items, with their places: each function call as a `function_call`,
    followed by its output once the client gave it, and each file_search as a
    `file_search_call` (its results when `include` asks), each code_interpreter call on a
    container as a `code_interpreter_call` (its outputs when `include` asks). A run's code
    ran in its thread's session, not in a container: it has no item."""
    found: list[tuple[str, dict[str, Any]]] = []
    status = "incomplete" if step.status in ("cancelled", "failed", "expired") else "completed"
    for call in step.step_details.get("tool_calls", []):
        if call.get("type") == "file_search":
            found.append(_search_item(call, step.inputs or {}, status, RESULTS in include))
        kept = (step.inputs or {}).get(call["id"]) or {}
        if call.get("type") == "code_interpreter" and kept.get("container_id"):
            found.append(_code_item(call, kept, status, OUTPUTS in include))
        if call.get("type") != "function":
            continue
        function = call["function"]
        call_item = ids.as_prefix(call["id"], ids.FUNCTION_CALL)
        found.append(
            (
                position(call_item),
                {
                    "type": "function_call",
                    "id": call_item,
                    "call_id": call["id"],
                    "name": function["name"],
                    "arguments": function["arguments"],
                    "status": status,
                },
            )
        )
        if function.get("output") is not None:
            output_item = ids.as_prefix(call["id"], ids.FUNCTION_CALL_OUTPUT)
            found.append(
                (
                    position(output_item),
                    {
                        "type": "function_call_output",
                        "id": output_item,
                        "call_id": call["id"],
                        "output": function["output"],
                        "status": "completed",
                    },
                )
            )
    return found


def _search_item(
    call: dict[str, Any], inputs: dict[str, Any], status: str, with_results: bool
) -> tuple[str, dict[str, Any]]:
    item_id = ids.as_prefix(call["id"], ids.FILE_SEARCH_CALL)
    kept = inputs.get(call["id"], {})
    query = query_of(kept.get("arguments", ""))
    attributes = kept.get("attributes") or {}
    results = None
    if with_results:
        results = []
        for result in call.get("file_search", {}).get("results") or []:
            found = {
                "file_id": result["file_id"],
                "filename": result.get("file_name", ""),
                "score": result.get("score", 0.0),
                "text": "".join(part.get("text", "") for part in result.get("content") or []),
            }
            if result["file_id"] in attributes:
                found["attributes"] = attributes[result["file_id"]]
            results.append(found)
    item = {
        "type": "file_search_call",
        "id": item_id,
        "status": status,
        "queries": [query] if query else [],
        "results": results,
    }
    return position(item_id), item


def _code_item(
    call: dict[str, Any], kept: dict[str, Any], status: str, with_outputs: bool
) -> tuple[str, dict[str, Any]]:
    item_id = ids.as_prefix(call["id"], ids.CODE_INTERPRETER_CALL)
    details = call["code_interpreter"]
    outputs = None
    if with_outputs:
        images = kept.get("image_urls") or {}
        outputs = [
            {"type": "logs", "logs": output["logs"]}
            if output["type"] == "logs"
            else {"type": "image", "url": images.get(output["image"]["file_id"], "")}
            for output in details.get("outputs") or []
        ]
    item = {
        "type": "code_interpreter_call",
        "id": item_id,
        "status": status,
        "container_id": kept["container_id"],
        "code": details.get("input", ""),
        "outputs": outputs,
    }
    return position(item_id), item


def stored_item(row: ConversationItem) -> dict[str, Any]:
    if row.type == "compaction":  # the summary stays Threadline's
        return {"type": row.type, "id": row.id, "encrypted_content": row.data["encrypted_content"]}
    return {"type": row.type, "id": row.id, "call_id": row.call_id, **row.data}


# -- writing --------------------------------------------------------------------------------


class MessageParts:
    """A message item's content as a thread message keeps it."""

    def __init__(self, item: MessageItemParam, param: str) -> None:
        self.content: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        # (file id, param) of every file the item names, to be checked.
        self.files: list[tuple[str, str]] = []
        if isinstance(item.content, str):
            self.content.append(text_part(item.content))
            return
        for index, part in enumerate(item.content):
            self._add(part, f"{param}.content[{index}]")

    def _add(self, part: Any, param: str) -> None:
        if isinstance(part, InputText):
            self.content.append(text_part(part.text))
        elif isinstance(part, OutputText):
            self.content.append(self._output_text(part))
        elif isinstance(part, Refusal):
            self.content.append({"type": "refusal", "refusal": part.refusal})
        elif isinstance(part, InputImage):
            self.content.append(self._image(part, param))
        else:
            assert isinstance(part, InputFile)
            if part.file_id is not None:
                self.files.append((part.file_id, f"{param}.file_id"))
                # Marked: its text is the model's to read (an Assistants attachment is
                # the tools' to search).
                attachment: dict[str, Any] = {
                    "file_id": part.file_id,
                    "tools": [],
                    INPUT_FILE: True,
                }
                if part.filename:
                    attachment["filename"] = part.filename
                self.attachments.append(attachment)
            elif part.file_url is not None:
                raise invalid(
                    f"Invalid '{param}.file_url': this server does not fetch files from URLs; "
                    "upload the file (POST /v1/files) and give its file_id, or its file_data.",
                    param=f"{param}.file_url",
                )
            elif part.file_data is None:
                raise invalid(
                    f"Invalid '{param}': an input_file needs a file_id or file_data.",
                    param=param,
                )
            else:
                self.content.append(part.model_dump(exclude_none=True))

    def _output_text(self, part: OutputText) -> dict[str, Any]:
        stored = text_part(part.text)
        for annotation in part.annotations:
            if isinstance(annotation, FileCitationParam):
                stored["text"]["annotations"].append(
                    {
                        "type": "file_citation",
                        "text": "",
                        "file_citation": {"file_id": annotation.file_id},
                        "start_index": annotation.index,
                        "end_index": annotation.index,
                        "index": annotation.index,
                        "filename": annotation.filename,
                    }
                )
            elif isinstance(annotation, FilePathParam):
                stored["text"]["annotations"].append(
                    {
                        "type": "file_path",
                        "text": "",
                        "file_path": {"file_id": annotation.file_id},
                        "start_index": annotation.index,
                        "end_index": annotation.index,
                        "index": annotation.index,
                    }
                )
            else:
                stored["text"].setdefault(EXTRA_ANNOTATIONS, []).append(annotation.model_dump())
        return stored

    def _image(self, part: InputImage, param: str) -> dict[str, Any]:
        # The Assistants shapes know three details; `original` is kept beside them.
        detail = part.detail if part.detail != "original" else "high"
        extra = {ORIGINAL_DETAIL: part.detail} if part.detail == "original" else {}
        if part.file_id is not None:
            self.files.append((part.file_id, f"{param}.file_id"))
            return {
                "type": "image_file",
                "image_file": {"file_id": part.file_id, "detail": detail},
                **extra,
            }
        if part.image_url is not None:
            url = check_image_url(part.image_url, f"{param}.image_url")
            return {"type": "image_url", "image_url": {"url": url, "detail": detail}, **extra}
        raise invalid(
            f"Invalid '{param}': an input_image needs a file_id or an image_url.", param=param
        )


def call_row(thread_id: str, item: FunctionCallParam) -> ConversationItem:
    data = {"name": item.name, "arguments": item.arguments, "status": item.status or "completed"}
    return _row(thread_id, ids.FUNCTION_CALL, "function_call", item.call_id, data)


def output_row(thread_id: str, item: FunctionCallOutputParam) -> ConversationItem:
    output = (
        item.output
        if isinstance(item.output, str)
        else [part.model_dump(exclude_none=True) for part in item.output]
    )
    data = {"output": output, "status": item.status or "completed"}
    return _row(thread_id, ids.FUNCTION_CALL_OUTPUT, "function_call_output", item.call_id, data)


def compaction_row(thread_id: str, reference: str, found: Compaction) -> ConversationItem:
    """A compaction item given as input, with what it refers to (read to the model, never
    shown)."""
    data = {
        "encrypted_content": reference,
        "summary": found.summary,
        "user_messages": found.user_messages,
    }
    return _row(thread_id, ids.COMPACTION, "compaction", None, data)


def _row(
    thread_id: str, prefix: str, kind: str, call_id: str | None, data: dict[str, Any]
) -> ConversationItem:
    item_id, created_at = ids.mint(prefix)
    return ConversationItem(
        id=item_id,
        thread_id=thread_id,
        created_at=created_at,
        position=position(item_id),
        type=kind,
        call_id=call_id,
        data=data,
    )
