"""The Assistants API's serializer of the engine's events: each event as its stream sends
it (`thread.run.*` with the run object, `thread.message.delta` with the delta object, ...).

The bus carries the engine's own form (`runs/announce.py`): rows as their columns, deltas
as the recorder makes them. The Responses API has a serializer of its own over the same
events (`responses/stream.py`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from threadline.events.bus import Event
from threadline.runs.schemas import RunObject, RunStepObject, step_details_to_wire
from threadline.threads.schemas import MessageObject, ThreadObject


def _row(name: str) -> Any:
    if name.startswith("thread.run.step."):
        return RunStepObject
    if name.startswith("thread.run."):
        return RunObject
    if name.startswith("thread.message."):
        return MessageObject
    if name == "thread.created":
        return ThreadObject
    return None


def message_delta(delta: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = {"value": delta["text"]}
    if delta.get("first"):
        value["annotations"] = []
    return {
        "id": delta["message_id"],
        "object": "thread.message.delta",
        "delta": {"content": [{"index": 0, "type": "text", "text": value}]},
    }


def step_delta(delta: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = {"index": delta["index"]}
    if delta.get("call_id"):
        call["id"] = delta["call_id"]
    call["type"] = delta["type"]
    if delta["type"] == "function":
        if "name" in delta:
            call["function"] = {"name": delta["name"], "arguments": "", "output": None}
        else:
            call["function"] = {"arguments": delta["arguments"]}
    else:
        call.update(delta.get("part") or {})
    return {
        "id": delta["step_id"],
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
    }


def wire(data: Any, name: str, include: frozenset[str] = frozenset()) -> Any:
    """An event's data as the Assistants API sends it."""
    if name == "thread.message.delta":
        return message_delta(data)
    if name == "thread.run.step.delta":
        return step_delta(data)
    model = _row(name)
    if model is None or not isinstance(data, dict):
        return data
    found = model.model_validate(data).model_dump(mode="json")
    if model is RunStepObject:
        found["step_details"] = step_details_to_wire(found["step_details"], include)
    return found


def serializer(include: frozenset[str] = frozenset()):
    """Events as the Assistants API streams them; `include` as on run steps."""

    def shape(event: Event) -> Event:
        return replace(event, data=wire(event.data, event.name, include))

    return shape
