"""A thread's history as chat-completion messages: its messages and earlier tool calls.

Each thread message, and each tool-call step (the assistant's calls with their outputs),
becomes one `Item`: the unit that truncation keeps or drops, so that a call is never
separated from its output. Built-in tools restate their own calls (`BuiltinTool.restate`).
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.tokens import estimate_message
from threadline.runs.models import RunStep
from threadline.threads.models import Message
from threadline.tools.registry import ToolRegistry

# Reads a file's bytes and name for an `image_file` part; None when it is gone.
ImageReader = Callable[[str], Awaitable[tuple[bytes, str] | None]]


@dataclass
class Item:
    messages: list[dict[str, Any]]
    is_message: bool
    tokens: int = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = sum(estimate_message(m) for m in self.messages)


def _order_key(object_id: str) -> str:
    # Ids of every kind carry the same time-ordered body after their prefix.
    return object_id.split("_", 1)[-1].split("-", 1)[-1]


async def _content(message: Message, read_image: ImageReader) -> str | list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for part in message.content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]["value"]})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part["refusal"]})
        elif message.role != "user":
            continue  # chat models take images from users only
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
    if all(part["type"] == "text" for part in parts):
        return "\n".join(part["text"] for part in parts)
    return parts


def _tool_item(
    step: RunStep, tools: ToolRegistry, memos: dict[str, dict[str, Any]], room: int
) -> Item | None:
    """A tool-call step as the assistant's calls and their outputs. `memos` (by tool type)
    is shared by the steps of one run."""
    calls = []
    outputs = []
    kept = step.inputs or {}
    for call in step.step_details.get("tool_calls", []):
        if call.get("type") == "function":
            function = call["function"]
            calls.append((call["id"], function["name"], function["arguments"]))
            outputs.append(function["output"] or "")
            continue
        tool = tools.by_type(call.get("type", ""))
        if tool is None:
            continue  # a tool this server no longer runs
        memo = memos.setdefault(tool.type, {})
        arguments, output = tool.restate(call, kept.get(call["id"], {}), memo, room)
        calls.append((call["id"], tool.name, arguments))
        outputs.append(output)
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
        for (call_id, _, _), output in zip(calls, outputs, strict=True)
    ]
    return Item(messages, is_message=False)


async def thread_items(
    messages: list[Message],
    steps: list[RunStep],
    read_image: ImageReader,
    tools: ToolRegistry,
    room: int = 6000,
) -> list[Item]:
    """Messages and tool-call steps, interleaved in the order they happened. `room` is the
    characters a tool's output may take."""
    entries: list[tuple[str, Message | RunStep]] = [(_order_key(m.id), m) for m in messages]
    entries += [(_order_key(s.id), s) for s in steps]
    entries.sort(key=lambda entry: entry[0])
    items: list[Item] = []
    memos: dict[str, dict[str, dict[str, Any]]] = {}  # run id -> tool type -> memo
    for _, entry in entries:
        if isinstance(entry, Message):
            if entry.status == "in_progress":
                continue
            content = await _content(entry, read_image)
            if content in ("", []):
                continue
            items.append(Item([{"role": entry.role, "content": content}], is_message=True))
        else:
            item = _tool_item(entry, tools, memos.setdefault(entry.run_id, {}), room)
            if item is not None:
                items.append(item)
    return items


def system_message(instructions: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": instructions}] if instructions else []
