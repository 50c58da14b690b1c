"""The event orders of the contract, and Threadline's recorded transcripts, for checking
streams."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

# The order the contract gives; `+` marks an event that repeats once or more.
TEXT_RUN = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.message.created",
    "thread.message.in_progress",
    "thread.message.delta+",
    "thread.message.completed",
    "thread.run.step.completed",
    "thread.run.completed",
    "done",
]
FUNCTION_RUN = [
    "thread.run.created",
    "thread.run.queued",
    "thread.run.in_progress",
    "thread.run.step.created",
    "thread.run.step.in_progress",
    "thread.run.step.delta+",
    "thread.run.requires_action",
    "done",
]
AFTER_OUTPUTS = ["thread.run.step.completed", "thread.run.queued", *TEXT_RUN[2:]]


def collapse(names: list[str]) -> list[str]:
    """Runs of a repeated delta event become one `<name>+`."""
    out = []
    for name, group in itertools.groupby(names):
        count = len(list(group))
        out.append(f"{name}+" if name.endswith(".delta") else name)
        if count > 1 and not name.endswith(".delta"):
            out += [name] * (count - 1)
    return out


# Threadline's own transcripts, recorded from its streams (`RECORD_SSE=1 pytest
# tests/test_streaming.py` writes them anew) and checked by hand against the event orders
# above, which are those of the contract's examples.
RECORDED = Path(__file__).resolve().parent.parent / "fixtures" / "sse"


def to_sse(events: list[tuple[str, Any]]) -> str:
    return "".join(
        f"event: {name}\ndata: {data if isinstance(data, str) else json.dumps(data)}\n\n"
        for name, data in events
    )


def from_sse(text: str) -> list[tuple[str, Any]]:
    events = []
    for frame in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        data = fields["data"]
        events.append((fields["event"], data if data == "[DONE]" else json.loads(data)))
    return events


def shape(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """What a transcript must keep from one run to the next: the events in order (a run of
    deltas as one), each with its object's kind and keys; not ids, times or text."""
    shaped: list[tuple[str, Any]] = []
    for name, data in events:
        if name.endswith(".delta") and shaped and shaped[-1][0] == f"{name}+":
            continue
        keys = (data.get("object"), sorted(data)) if isinstance(data, dict) else data
        shaped.append((f"{name}+" if name.endswith(".delta") else name, keys))
    return shaped


def matches_recorded(name: str, events: list[tuple[str, Any]]) -> None:
    """The stream has the shape of Threadline's recorded transcript `name`."""
    path = RECORDED / f"{name}.sse"
    if os.environ.get("RECORD_SSE"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(to_sse(events))
    assert shape(events) == shape(from_sse(path.read_text()))
