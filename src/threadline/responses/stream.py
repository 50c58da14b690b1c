"""The Responses API's serializer of the engine's events: a response's run events (as the
bus carries them, `runs/announce.py`) as `response.*` events, numbered in order.

The numbering is a function of the run's events alone, so a stream read again from the
start (a background response resumed after `starting_after`) numbers them the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from threadline import ids
from threadline.conversations import items as mapping
from threadline.events.bus import Event
from threadline.events.names import EventName
from threadline.responses import tools
from threadline.responses.models import Response
from threadline.responses.objects import shape
from threadline.responses.schemas import HOSTED
from threadline.runs.models import RunStep
from threadline.threads.models import Message

_LIFECYCLE = {
    EventName.RUN_CREATED: "response.created",
    EventName.RUN_IN_PROGRESS: "response.in_progress",
}
# The run's end, and the response event that says it. The spec has no event for a
# cancelled response: it ends with `response.failed`, its status `cancelled`.
ENDS = {
    EventName.RUN_COMPLETED: "response.completed",
    EventName.RUN_INCOMPLETE: "response.incomplete",
    EventName.RUN_FAILED: "response.failed",
    EventName.RUN_CANCELLED: "response.failed",
    EventName.RUN_EXPIRED: "response.failed",
}


@dataclass
class _Call:
    item_id: str
    call_id: str
    name: str
    output_index: int
    arguments: str = ""


@dataclass
class _Builtin:
    """A built-in tool's call as the stream has announced it."""

    kind: str  # the tool's type
    item_id: str
    output_index: int
    code: str = ""
    running: bool = False

    @property
    def prefix(self) -> str:
        return f"response.{self.kind}_call"


@dataclass
class ResponseStream:
    """One stream of a response: what it has numbered and announced so far. The response
    objects it sends are made from its row and the run's columns each event carries, and
    the output items it has sent: no read of the store on the way to the first token."""

    row: Response
    sequence: int = 0
    outputs: int = 0
    # message id -> its output index; (step id, call index) -> the call.
    messages: dict[str, int] = field(default_factory=dict)
    calls: dict[tuple[str, int], _Call] = field(default_factory=dict)
    # call id -> a built-in call; (step id, call index) -> its call id.
    builtins: dict[str, _Builtin] = field(default_factory=dict)
    builtin_ids: dict[tuple[str, int], str] = field(default_factory=dict)
    # The response's code_interpreter container, from its run's tools.
    container_id: str = ""
    # The output items as they ended, by output index.
    done: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def include(self) -> frozenset[str]:
        return frozenset(self.row.options.get("include") or ())

    def _out(self, kind: str, **data: Any) -> tuple[str, dict[str, Any]]:
        event = {"type": kind, "sequence_number": self.sequence, **data}
        self.sequence += 1
        return kind, event

    def _response(self, run: dict[str, Any], final: bool) -> dict[str, Any]:
        """The response object as of a lifecycle event: its output once the run has
        ended, none before."""
        output = [self.done[index] for index in sorted(self.done)] if final else []
        return shape(self.row, run, output)

    async def serialize(self, event: Event) -> list[tuple[str, dict[str, Any]]]:
        name, data = event.name, event.data
        if name in _LIFECYCLE or name == EventName.RUN_QUEUED:
            self.container_id = tools.container_of(data["tools"]) or self.container_id
        if name in _LIFECYCLE or (name == EventName.RUN_QUEUED and self.row.background):
            kind = _LIFECYCLE.get(name, "response.queued")  # type: ignore[call-overload]
            return [self._out(kind, response=self._response(data, final=False))]
        if name in ENDS:
            return [self._out(ENDS[name], response=self._response(data, final=True))]
        if name == EventName.MESSAGE_CREATED and data.get("role") == "assistant":
            return self._message_added(data)
        if name == EventName.MESSAGE_DELTA and data["message_id"] in self.messages:
            return [
                self._out(
                    "response.output_text.delta",
                    item_id=data["message_id"],
                    output_index=self.messages[data["message_id"]],
                    content_index=0,
                    delta=data["text"],
                    logprobs=[],
                )
            ]
        if name in (EventName.MESSAGE_COMPLETED, EventName.MESSAGE_INCOMPLETE):
            return self._message_done(data)
        if name == EventName.STEP_DELTA and data.get("type") == "function":
            return self._call_delta(data)
        if name == EventName.STEP_DELTA and data.get("type") in HOSTED:
            return self._builtin_delta(data)
        if name == EventName.CALL_RUNNING:
            return self._builtin_running(data)
        if name == EventName.STEP_COMPLETED and data.get("type") == "tool_calls":
            return self._calls_done(data)
        return []

    def _message_added(self, row: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        index = self.messages[row["id"]] = self.outputs
        self.outputs += 1
        item = {"type": "message", "id": row["id"], "status": "in_progress",
                "role": "assistant", "content": []}  # fmt: skip
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return [
            self._out("response.output_item.added", output_index=index, item=item),
            self._out(
                "response.content_part.added",
                item_id=row["id"],
                output_index=index,
                content_index=0,
                part=part,
            ),
        ]

    def _message_done(self, row: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if row["id"] not in self.messages:
            return []
        index = self.messages[row["id"]]
        item = mapping.message_item(Message(**row), {})
        part = next((p for p in item["content"] if p["type"] == "output_text"), None)
        if part is None:
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        out = [
            self._out(
                "response.output_text.annotation.added",
                item_id=row["id"],
                output_index=index,
                content_index=0,
                annotation_index=number,
                annotation=annotation,
            )
            for number, annotation in enumerate(part["annotations"])
        ]
        where = {"item_id": row["id"], "output_index": index, "content_index": 0}
        out.append(self._out("response.output_text.done", text=part["text"], logprobs=[], **where))
        out.append(self._out("response.content_part.done", part=part, **where))
        out.append(self._out("response.output_item.done", output_index=index, item=item))
        self.done[index] = item
        return out

    def _call_delta(self, delta: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        key = (delta["step_id"], delta["index"])
        out = []
        call = self.calls.get(key)
        if call is None:
            if not delta.get("call_id"):
                return []
            call = self.calls[key] = self._new_call(delta["call_id"], delta["name"])
            out.append(self._call_added(call))
        fragment = delta.get("arguments") or ""
        if fragment:
            call.arguments += fragment
            out.append(
                self._out(
                    "response.function_call_arguments.delta",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    delta=fragment,
                )
            )
        return out

    def _new_call(self, call_id: str, name: str) -> _Call:
        call = _Call(ids.as_prefix(call_id, ids.FUNCTION_CALL), call_id, name, self.outputs)
        self.outputs += 1
        return call

    def _call_added(self, call: _Call) -> tuple[str, dict[str, Any]]:
        item = {"type": "function_call", "id": call.item_id, "call_id": call.call_id,
                "name": call.name, "arguments": "", "status": "in_progress"}  # fmt: skip
        return self._out("response.output_item.added", output_index=call.output_index, item=item)

    # -- built-in tools' calls ------------------------------------------------------------

    def _builtin(self, kind: str, call_id: str) -> tuple[_Builtin, list[tuple[str, dict]]]:
        """The call, announced now if it is new."""
        call = self.builtins.get(call_id)
        if call is not None:
            return call, []
        prefix = ids.FILE_SEARCH_CALL if kind == tools.SEARCH else ids.CODE_INTERPRETER_CALL
        call = self.builtins[call_id] = _Builtin(kind, ids.as_prefix(call_id, prefix), self.outputs)
        self.outputs += 1
        if kind == tools.SEARCH:
            item = {"type": "file_search_call", "id": call.item_id, "status": "in_progress",
                    "queries": [], "results": None}  # fmt: skip
        else:
            item = {"type": "code_interpreter_call", "id": call.item_id,
                    "status": "in_progress", "container_id": self.container_id, "code": "",
                    "outputs": None}  # fmt: skip
        where = {"output_index": call.output_index, "item_id": call.item_id}
        return call, [
            self._out("response.output_item.added", output_index=call.output_index, item=item),
            self._out(f"{call.prefix}.in_progress", **where),
        ]

    def _builtin_delta(self, delta: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        key = (delta["step_id"], delta["index"])
        if delta.get("call_id"):
            self.builtin_ids[key] = delta["call_id"]
        if key not in self.builtin_ids:
            return []
        call, out = self._builtin(delta["type"], self.builtin_ids[key])
        fragment = ((delta.get("part") or {}).get(tools.CODE) or {}).get("input")
        if call.kind == tools.CODE and fragment and not call.running:
            call.code += fragment
            out.append(
                self._out(
                    "response.code_interpreter_call_code.delta",
                    output_index=call.output_index,
                    item_id=call.item_id,
                    delta=fragment,
                )
            )
        return out

    def _builtin_running(self, data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        call, out = self._builtin(data["type"], data["call_id"])
        call.running = True
        where = {"output_index": call.output_index, "item_id": call.item_id}
        if call.kind == tools.CODE:
            out.append(self._out("response.code_interpreter_call_code.done", code=call.code,
                                 **where))  # fmt: skip
            out.append(self._out("response.code_interpreter_call.interpreting", **where))
        else:
            out.append(self._out("response.file_search_call.searching", **where))
        return out

    def _builtin_done(self, step: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        step_row = RunStep(**step)
        items = {item["id"]: item for _, item in mapping.step_items(step_row, self.include)}
        for given in step["step_details"].get("tool_calls", []):
            if given.get("type") not in HOSTED:
                continue
            call, added = self._builtin(given["type"], given["id"])
            out += added
            item = items.get(call.item_id)
            if item is None:
                continue
            where = {"output_index": call.output_index, "item_id": call.item_id}
            out.append(self._out(f"{call.prefix}.completed", **where))
            out.append(
                self._out("response.output_item.done", output_index=call.output_index, item=item)
            )
            self.done[call.output_index] = item
        return out

    def _calls_done(self, step: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = self._builtin_done(step)
        for index, given in enumerate(step["step_details"].get("tool_calls", [])):
            if given.get("type") != "function":
                continue
            function = given["function"]
            call = self.calls.get((step["id"], index))
            if call is None:  # sent whole at the end (a server's way): announced now
                call = self.calls[(step["id"], index)] = self._new_call(
                    given["id"], function["name"]
                )
                out.append(self._call_added(call))
            item = {"type": "function_call", "id": call.item_id, "call_id": call.call_id,
                    "name": function["name"], "arguments": function["arguments"],
                    "status": "completed"}  # fmt: skip
            out.append(
                self._out(
                    "response.function_call_arguments.done",
                    item_id=call.item_id,
                    output_index=call.output_index,
                    name=function["name"],
                    arguments=function["arguments"],
                )
            )
            out.append(
                self._out("response.output_item.done", output_index=call.output_index, item=item)
            )
            self.done[call.output_index] = item
        return out


async def frames(
    events: AsyncIterator[Event], stream: ResponseStream, starting_after: int | None = None
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The response's events until it ends; with `starting_after`, those numbered after
    it."""
    async for event in events:
        for kind, data in await stream.serialize(event):
            if starting_after is None or data["sequence_number"] > starting_after:
                yield kind, data
        if event.name in ENDS:
            return
