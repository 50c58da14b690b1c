"""Prompt assembly: a thread's messages and earlier tool calls, as chat-completion messages.

Each thread message, and each tool-call step (the assistant's calls with their outputs),
becomes one `Item`: the unit that truncation keeps or drops, so that a call is never
separated from its output.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from threadline.engine.tokens import estimate_message
from threadline.runs.models import RunStep
from threadline.threads.models import Message
from threadline.tools import file_search
from threadline.tools.code_interpreter import tool as code_interpreter

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


def _tool_item(step: RunStep, first_source: int, limit_chars: int) -> Item | None:
    """A tool-call step as the assistant's calls and their outputs. File searches get the
    results they found, numbered for citing from `first_source` on."""
    calls = []
    outputs = []
    exchanged = step.inputs or {}
    for call in step.step_details.get("tool_calls", []):
        if call.get("type") == "function":
            function = call["function"]
            calls.append((call["id"], function["name"], function["arguments"]))
            outputs.append(function["output"] or "")
        elif call.get("type") == "file_search":
            results = call["file_search"].get("results", [])
            arguments = exchanged.get(call["id"], {}).get("arguments", "{}")
            calls.append((call["id"], file_search.NAME, arguments))
            outputs.append(file_search.results_text(results, first_source, limit_chars))
            first_source += len(results)
        elif call.get("type") == "code_interpreter":
            details = call["code_interpreter"]
            arguments = json.dumps({"code": details["input"]})
            calls.append((call["id"], code_interpreter.NAME, arguments))
            logs = "".join(o["logs"] for o in details["outputs"] if o["type"] == "logs")
            outputs.append(exchanged.get(call["id"], {}).get("output") or logs)
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


def _found(step: RunStep) -> int:
    return sum(
        len(call["file_search"].get("results", []))
        for call in step.step_details.get("tool_calls", [])
        if call.get("type") == "file_search"
    )


async def thread_items(
    messages: list[Message],
    steps: list[RunStep],
    read_image: ImageReader,
    search_chars: int = 6000,
) -> list[Item]:
    """Messages and tool-call steps, interleaved in the order they happened. Search
    results are numbered per run, as the run's citations count them."""
    entries: list[tuple[str, Message | RunStep]] = [(_order_key(m.id), m) for m in messages]
    entries += [(_order_key(s.id), s) for s in steps]
    entries.sort(key=lambda entry: entry[0])
    items: list[Item] = []
    found_in_run: dict[str, int] = {}
    for _, entry in entries:
        if isinstance(entry, Message):
            if entry.status == "in_progress":
                continue
            content = await _content(entry, read_image)
            if content in ("", []):
                continue
            items.append(Item([{"role": entry.role, "content": content}], is_message=True))
        else:
            first = found_in_run.get(entry.run_id, 0)
            item = _tool_item(entry, first, search_chars)
            found_in_run[entry.run_id] = first + _found(entry)
            if item is not None:
                items.append(item)
    return items


def system_message(instructions: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": instructions}] if instructions else []
