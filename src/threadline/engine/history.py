"""A thread's history as chat-completion messages: its messages and earlier tool calls.

Each thread message, and each tool-call step (the assistant's calls with their outputs),
becomes one `Item`: the unit that truncation keeps or drops, so that a call is never
separated from its output. Built-in tools restate their own calls (`BuiltinTool.restate`).
"""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from threadline import ids
from threadline.conversations.models import ConversationItem
from threadline.engine.tokens import estimate_message
from threadline.runs.models import RunStep
from threadline.threads.models import Message
from threadline.tools.registry import ToolRegistry
from threadline.vector_stores.ingestion.parse import ParseError, extract_text

# Reads a file's bytes and name for an `image_file` part; None when it is gone.
ImageReader = Callable[[str], Awaitable[tuple[bytes, str] | None]]


@dataclass
class Item:
    messages: list[dict[str, Any]]
    is_message: bool
    tokens: int = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = sum(estimate_message(m) for m in self.messages)


@dataclass
class History:
    """A thread as the prompt reads it: its messages, its runs' tool-call steps that have
    ended, and the function calls and outputs a client added (Conversations), each list
    oldest first."""

    messages: list[Message]
    steps: list[RunStep]
    added: list[ConversationItem] = field(default_factory=list)


async def _content(message: Message, read_image: ImageReader) -> str | list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]["value"]})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part["refusal"]})
        elif message.role != "user":
            continue  # chat models take images from users only (files: `input_file`)
        elif kind == "image_url":
            parts.append({"type": "image_url", "image_url": dict(part["image_url"])})
        elif kind == "image_file":
            image = part["image_file"]
            found = await read_image(image["file_id"])
            if found is None:
                continue
            data, filename = found
            mime = mimetypes.guess_type(filename)[0] or "image/png"
            url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            parts.append(
                {"type": "image_url", "image_url": {"url": url, "detail": image["detail"]}}
            )
    if message.role == "user":
        parts += await _files(message, read_image)
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


async def _files(message: Message, read_file: ImageReader) -> list[dict[str, Any]]:
    """The text of the files a Responses `input_file` gave the model to read (by id, or
    inline as `file_data`), each after a line naming it; a file that cannot be read is
    named with why."""
    found: list[tuple[str, bytes | None]] = []
    for attachment in message.attachments or []:
        if attachment.get("input_file"):
            read = await read_file(attachment["file_id"])
            name = attachment.get("filename") or (read[1] if read else attachment["file_id"])
            found.append((name, read[0] if read else None))
    for part in message.content:
        if part.get("type") == "input_file" and part.get("file_data"):
            found.append((part.get("filename") or "file", _inline(part["file_data"])))
    parts = []
    for name, data in found:
        text = await asyncio.to_thread(_text_of, data, name)
        parts.append({"type": "text", "text": f"[File: {name}]\n{text}"})
    return parts


def _inline(file_data: str) -> bytes | None:
    """The bytes of a data URL or bare base64."""
    encoded = file_data.split(",", 1)[1] if file_data.startswith("data:") else file_data
    try:
        return base64.b64decode(encoded, validate=False)
    except ValueError:
        return None


def _text_of(data: bytes | None, name: str) -> str:
    if data is None:
        return "(the file could not be read)"
    try:
        return extract_text(data, name)
    except ParseError as error:
        return f"(the file could not be read: {error})"


def _tool_item(
    step: RunStep,
    tools: ToolRegistry,
    memos: dict[str, dict[str, Any]],
    room: int,
    outputs: dict[str | None, ConversationItem],
) -> Item | None:
    """A tool-call step as the assistant's calls and their outputs (or those `outputs`
    gives, by call id). `memos` (by tool type)
    is shared by the steps of one run."""
    calls = []
    answers: list[str] = []
    kept = step.inputs or {}
    for call in step.step_details.get("tool_calls", []):
        if call.get("type") == "function":
            function = call["function"]
            output = function["output"]
            if output is None and call["id"] in outputs:
                # Answered through the Conversations API rather than submit_tool_outputs.
                output = _output_text(outputs[call["id"]].data)
            calls.append((call["id"], function["name"], function["arguments"]))
            answers.append(output or "")
            continue
        tool = tools.by_type(call.get("type", ""))
        if tool is None:
            continue  # a tool this server no longer runs
        memo = memos.setdefault(tool.type, {})
        arguments, output = tool.restate(call, kept.get(call["id"], {}), memo, room)
        calls.append((call["id"], tool.name, arguments))
        answers.append(output)
    if not calls:
        return None
    messages: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
                for call_id, name, args in calls
            ],
        }
    ]
    messages += [
        {"role": "tool", "tool_call_id": call_id, "content": output}
        for (call_id, _, _), output in zip(calls, answers, strict=True)
    ]
    return Item(messages, is_message=False)


async def thread_items(
    history: History, read_image: ImageReader, tools: ToolRegistry, room: int = 6000
) -> list[Item]:
    """Messages, tool-call steps and added calls, interleaved in the order they happened.
    `room` is the characters a tool's output may take."""
    entries: list[tuple[str, Message | RunStep | ConversationItem]] = [
        (ids.body(m.id), m) for m in history.messages
    ]
    entries += [(ids.body(s.id), s) for s in history.steps]
    entries += [
        (row.position, row) for row in history.added if row.type in ("function_call", "compaction")
    ]
    entries.sort(key=lambda entry: entry[0])
    outputs = {row.call_id: row for row in history.added if row.type == "function_call_output"}
    items: list[Item] = []
    memos: dict[str, dict[str, dict[str, Any]]] = {}  # run id -> tool type -> memo
    calls: list[ConversationItem] = []
    for _, entry in entries:
        if isinstance(entry, ConversationItem) and entry.type == "function_call":
            calls.append(entry)  # consecutive calls are one assistant turn
            continue
        if calls:
            items += _added_calls(calls, outputs)
            calls = []
        if isinstance(entry, ConversationItem):  # a compaction: what it stands for
            items += [
                Item([{"role": "user", "content": text}], is_message=True)
                for text in entry.data.get("user_messages") or []
            ]
            summary = SUMMARY_LEAD + entry.data["summary"]
            items.append(Item([{"role": "system", "content": summary}], is_message=True))
            continue
        if isinstance(entry, Message):
            if entry.status == "in_progress":
                continue
            content = await _content(entry, read_image)
            if content in ("", []):
                continue
            # Chat servers know the system role; `developer` is the Responses API's name.
            role = "system" if entry.role == "developer" else entry.role
            items.append(Item([{"role": role, "content": content}], is_message=True))
        else:
            item = _tool_item(entry, tools, memos.setdefault(entry.run_id, {}), room, outputs)
            if item is not None:
                items.append(item)
    if calls:
        items += _added_calls(calls, outputs)
    return items


# How a compaction's summary is put to the model (as context, like a developer message).
SUMMARY_LEAD = "A summary of the earlier part of this conversation:\n"


def _added_calls(
    calls: list[ConversationItem], outputs: dict[str | None, ConversationItem]
) -> list[Item]:
    """Calls a client added, with the outputs it gave; a call without one is left out (a
    chat server takes no call without its answer)."""
    answered = [(call, outputs[call.call_id]) for call in calls if call.call_id in outputs]
    if not answered:
        return []
    messages: list[dict[str, Any]] = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.data["name"], "arguments": call.data["arguments"]},
                }
                for call, _ in answered
            ],
        }
    ]
    messages += [
        {"role": "tool", "tool_call_id": call.call_id, "content": _output_text(output.data)}
        for call, output in answered
    ]
    return [Item(messages, is_message=False)]


def _output_text(data: dict[str, Any]) -> str:
    output = data["output"]
    if isinstance(output, str):
        return output
    return "\n".join(part.get("text", "") for part in output if part.get("type") == "input_text")


def system_message(instructions: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": instructions}] if instructions else []
