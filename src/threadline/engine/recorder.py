"""The recorder: the one place that creates and updates a run's steps and messages, and
the order in which their writes and events happen.

It works on detached snapshots of the run, its steps and its message, and emits each change
as an event; the store writes it before streams see it. It also remembers what streams have
seen of the current turn (text, and tool calls by index), so that a retried model call does
not send them anything twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from threadline import ids
from threadline.backends.base import Usage
from threadline.conversations.items import EXTRA_ANNOTATIONS
from threadline.engine.emitter import Emitter
from threadline.engine.writer import snapshot
from threadline.events.names import EventName, message_event
from threadline.runs.lifecycle import IllegalTransition
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message
from threadline.tools.base import AnswerParts, BuiltinTool, ToolRun

log = logging.getLogger("threadline.engine")

Announcement = tuple[str, Any]


def now() -> int:
    return int(time.time())


# Deltas as the engine announces them (each API's serializer writes its own wire form):
# text: {"message_id", "text", "first"}; a tool call's fragment: {"step_id", "index",
# "type", and "call_id" on its first fragment; a function's "name" (first) and "arguments";
# a built-in tool's "part", as its plug-in shows the call}.


def removal(message: Message) -> Announcement:
    """The removal of an unfinished message that has no text (stored, never announced)."""
    return (EventName.MESSAGE_REMOVED, message)


@dataclass
class StreamedCall:
    """A tool call as streams have seen it."""

    id: str
    forwarded: int = 0  # argument characters already sent


class Recorder:
    def __init__(self, emitter: Emitter, run: Run) -> None:
        self.emitter = emitter
        self.run = run
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.function_step: RunStep | None = None  # calls the client answers
        self.builtin_step: RunStep | None = None  # calls Threadline runs itself
        self.streamed_text = ""  # the current message's text as streams have seen it
        self.calls: dict[int, StreamedCall] = {}  # the turn's tool calls streams have seen
        self._writing: asyncio.Future[None] | None = None
        # The run's move to in_progress, written while its first model call starts.
        self._starting: asyncio.Future[None] | None = None
        # The write of objects announced before they were stored (see announce_then_write).
        self._behind: asyncio.Future[None] | None = None

    def new_turn(self) -> None:
        self.message = self.message_step = self.function_step = self.builtin_step = None
        self.streamed_text, self.calls = "", {}

    # -- the order of writes ---------------------------------------------------------------

    def start(self) -> None:
        """The run moves to in_progress: written (then announced) while the prompt is built
        and the model called, so the first token does not wait for it. The next event waits
        for it."""
        self.run.status = "in_progress"
        self.run.started_at = self.run.started_at or now()
        in_progress = (EventName.RUN_IN_PROGRESS, snapshot(self.run))
        self._starting = asyncio.ensure_future(self.emitter.emit(self.run.id, in_progress))

    async def emit(self, *events: Announcement, quiet: tuple[Announcement, ...] = ()) -> None:
        """Emit events (and store `quiet` objects unannounced); a write in flight finishes
        even if this task is cancelled."""
        await self.caught_up()
        self._writing = asyncio.ensure_future(self.emitter.emit(self.run.id, *events, quiet=quiet))
        await asyncio.shield(self._writing)

    async def announce_then_write(self, *events: Announcement) -> None:
        """Publish the creation of objects first and store them right after: the first token
        of an answer does not wait for its message's write. Every event that changes what
        exists (a completion, a status) is still stored before it is published, and waits
        for this write."""
        await self.caught_up()
        stored = [(name, snapshot(obj)) for name, obj in events]
        self._behind = asyncio.ensure_future(self.emitter.writer.apply(stored))
        await self.emitter.publish(self.run.id, *events)

    async def started(self) -> None:
        """Wait for the run's move to in_progress (raising, once, what stopped it): every
        other event of the run comes after it."""
        if self._starting is not None:
            starting, self._starting = self._starting, None
            await asyncio.shield(starting)

    async def caught_up(self) -> None:
        """Wait for every write already under way (raising, once, what failed)."""
        await self.started()
        if self._behind is not None:
            behind, self._behind = self._behind, None
            await asyncio.shield(behind)

    async def settle(self) -> None:
        """Wait for the writes that a cancellation interrupted, whatever their outcome; the
        events that follow (the run's cancel) no longer wait for them."""
        pending = (self._starting, self._behind, self._writing)
        self._starting = self._behind = None
        for writing in pending:
            if writing is None:
                continue
            try:
                await writing
            except IllegalTransition:
                pass  # the cancel (or an expiry) moved the run first
            except Exception:
                log.exception("write interrupted by cancellation failed")

    async def publish(self, *events: Announcement) -> None:
        await self.started()
        await self.emitter.publish(self.run.id, *events)

    # -- steps ------------------------------------------------------------------------------

    def new_step(self, details: dict[str, Any]) -> RunStep:
        step_id, created_at = ids.mint(ids.STEP)
        return RunStep(
            id=step_id,
            run_id=self.run.id,
            thread_id=self.run.thread_id,
            assistant_id=self.run.assistant_id,
            created_at=created_at,
            type=details["type"],
            status="in_progress",
            step_details=details,
            last_error=None,
            expired_at=None,
            cancelled_at=None,
            failed_at=None,
            completed_at=None,
            metadata_={},
            usage=None,
            inputs=None,
        )

    async def _open_tool_step(self) -> RunStep:
        step = self.new_step({"type": "tool_calls", "tool_calls": []})
        await self.emit((EventName.STEP_CREATED, step), (EventName.STEP_IN_PROGRESS, step))
        return step

    async def open_builtin_step(self, turn_text: str) -> RunStep:
        """The step of the turn's calls that Threadline runs itself (text written before
        them completes its message first)."""
        if self.builtin_step is None:
            await self.close_message_for_tools(turn_text)
            self.builtin_step = await self._open_tool_step()
        return self.builtin_step

    async def complete_builtin_step(
        self, details: list[dict[str, Any]], kept: dict[str, Any], usage: Usage
    ) -> None:
        step = await self.open_builtin_step(self.streamed_text)
        step.step_details = {"type": "tool_calls", "tool_calls": details}
        step.inputs = {**(step.inputs or {}), **kept}
        step.status, step.completed_at = "completed", now()
        step.usage = usage.as_dict()
        await self.emit((EventName.STEP_COMPLETED, step))

    async def function_calls_waiting(self, calls: list[dict[str, Any]], usage: Usage) -> RunStep:
        """The step of the calls the client answers, as it waits for their outputs."""
        if self.function_step is None:
            self.function_step = await self._open_tool_step()
        step = self.function_step
        step.step_details = {
            "type": "tool_calls",
            "tool_calls": [
                {"id": c["id"], "type": "function", "function": {**c["function"], "output": None}}
                for c in calls
            ],
        }
        # Kept with the step now, shown once the step completes.
        step.usage = usage.as_dict()
        return step

    # -- streaming --------------------------------------------------------------------------

    async def text(self, fragment: str) -> None:
        """Stream a piece of the answer's text (its message is created with the first)."""
        first = self.message is None
        if first:
            await self.open_message()
        assert self.message is not None
        self.streamed_text += fragment
        delta = {"message_id": self.message.id, "text": fragment, "first": first}
        await self.publish((EventName.MESSAGE_DELTA, delta))

    async def function_call(self, turn_text: str, index: int, call_id: str, name: str,
                            arguments: str) -> None:  # fmt: skip
        """Stream a function call the client will answer, as far as it is written."""
        await self.close_message_for_tools(turn_text)
        if self.function_step is None:
            self.function_step = await self._open_tool_step()
        step_id = self.function_step.id
        streamed = self.calls.get(index)
        if streamed is None:
            streamed = self.calls[index] = StreamedCall(call_id)
            first = {"step_id": step_id, "index": index, "type": "function",
                     "call_id": call_id, "name": name, "arguments": ""}  # fmt: skip
            await self.publish((EventName.STEP_DELTA, first))
        if len(arguments) > streamed.forwarded:
            fragment = arguments[streamed.forwarded :]
            streamed.forwarded = len(arguments)
            more = {"step_id": step_id, "index": index, "type": "function", "arguments": fragment}
            await self.publish((EventName.STEP_DELTA, more))

    async def builtin_call(self, turn_text: str, index: int, call_id: str, arguments: str,
                           tool: BuiltinTool, tool_run: ToolRun) -> None:  # fmt: skip
        """Stream a call Threadline runs itself, as far as the tool shows it (for code, the
        code as the model writes it)."""
        step = await self.open_builtin_step(turn_text)
        if index not in self.calls:
            self.calls[index] = StreamedCall(call_id)
            first = {"step_id": step.id, "index": index, "type": tool.type, "call_id": call_id,
                     "part": tool_run.begin_call(call_id)}  # fmt: skip
            await self.publish((EventName.STEP_DELTA, first))
        part = tool_run.stream_call(call_id, arguments)
        if part:
            await self.builtin_delta(index, tool, part)

    async def builtin_delta(self, index: int, tool: BuiltinTool, part: dict[str, Any]) -> None:
        assert self.builtin_step is not None
        fragment = {
            "step_id": self.builtin_step.id,
            "index": index,
            "type": tool.type,
            "part": part,
        }
        await self.publish((EventName.STEP_DELTA, fragment))

    async def builtin_running(self, index: int, call_id: str, tool: BuiltinTool) -> None:
        """A built-in call, fully written, starts to run."""
        assert self.builtin_step is not None
        running = {"step_id": self.builtin_step.id, "index": index, "type": tool.type,
                   "call_id": call_id}  # fmt: skip
        await self.publish((EventName.CALL_RUNNING, running))

    # -- messages ---------------------------------------------------------------------------

    async def open_message(self) -> None:
        message_id, created_at = ids.mint(ids.MESSAGE)
        step = self.new_step(
            {"type": "message_creation", "message_creation": {"message_id": message_id}}
        )
        message = Message(
            id=message_id,
            thread_id=self.run.thread_id,
            created_at=created_at,
            role="assistant",
            content=[],
            attachments=[],
            assistant_id=self.run.assistant_id or None,
            run_id=self.run.id,
            status="in_progress",
            incomplete_details=None,
            completed_at=None,
            incomplete_at=None,
            metadata_={},
        )
        self.message, self.message_step = message, step
        await self.announce_then_write(
            (EventName.STEP_CREATED, step),
            (EventName.STEP_IN_PROGRESS, step),
            (EventName.MESSAGE_CREATED, message),
            (EventName.MESSAGE_IN_PROGRESS, message),
        )

    async def close_message_for_tools(self, text: str) -> None:
        """Text came before the model turned to tools: that message is done."""
        if self.message is not None and self.message.status == "in_progress":
            events = await self.closing(Usage(), text, for_tools=True)
            if events:
                await self.emit(*events)

    async def closing(
        self,
        usage: Usage,
        text: str,
        answer: Callable[[str], AnswerParts] | None = None,
        *,
        incomplete: str | None = None,
        for_tools: bool = False,
    ) -> list[Announcement]:
        """The events that complete the turn's message and its step, for the caller to emit
        (the message and its step are created first if the model was silent). `answer` adds
        what the run's tools contribute (figures, annotations)."""
        if self.message is None:
            if for_tools:
                return []
            await self.open_message()
        message, step = self.message, self.message_step
        assert message is not None and step is not None
        if message.status != "in_progress":
            return []
        parts = answer(text) if answer is not None and not for_tools else AnswerParts()
        annotations = sorted(parts.annotations, key=lambda annotation: annotation["start_index"])
        found: dict[str, Any] = {"value": text, "annotations": annotations}
        if parts.cited:
            found[EXTRA_ANNOTATIONS] = parts.cited
        message.content = [*parts.content, {"type": "text", "text": found}]
        stamp = now()
        if incomplete:
            message.status, message.incomplete_at = "incomplete", stamp
            message.incomplete_details = {"reason": incomplete}
        else:
            message.status, message.completed_at = "completed", stamp
        step.status, step.completed_at = "completed", stamp
        step.usage = Usage().as_dict() if for_tools else usage.as_dict()
        return [(message_event(message.status), message), (EventName.STEP_COMPLETED, step)]

    def _end_early(self, message: Message, reason: str, stamp: int) -> Announcement:
        """An unfinished message ends incomplete with the text streams saw of it; one with no
        text (it was opened by a process that went down with its text) is removed instead,
        so that every message a client lists has content. Its step keeps the message's id,
        as a step does after a client deletes the message."""
        if not message.content:
            text = self.streamed_text if message is self.message else ""
            if not text:
                return removal(message)
            message.content = [{"type": "text", "text": {"value": text, "annotations": []}}]
        message.status, message.incomplete_at = "incomplete", stamp
        message.incomplete_details = {"reason": reason}
        return (EventName.MESSAGE_INCOMPLETE, message)

    # -- what a failure or a cancel ends ------------------------------------------------------

    def fail_open(self, code: str, message: str, stamp: int) -> list[Announcement]:
        """The turn's message ends incomplete and its open steps fail."""
        events: list[Announcement] = []
        if self.message is not None and self.message.status == "in_progress":
            events.append(self._end_early(self.message, "run_failed", stamp))
        for step in (self.message_step, self.function_step):
            if step is not None and step.status == "in_progress":
                step.status, step.failed_at = "failed", stamp
                # Steps know only these two codes.
                step_code = code if code == "rate_limit_exceeded" else "server_error"
                step.last_error = {"code": step_code, "message": message}
                events.append((EventName.STEP_FAILED, step))
        return events

    def cancel_open(
        self, messages: list[Message], steps: list[RunStep], stamp: int
    ) -> list[Announcement]:
        """The run's open messages (as stored, or as the turn has them) end incomplete, its
        open steps cancelled."""
        events: list[Announcement] = []
        open_messages = {m.id: m for m in messages}
        if self.message is not None and self.message.id in open_messages:
            open_messages[self.message.id] = self.message
        for message in open_messages.values():
            events.append(self._end_early(message, "run_cancelled", stamp))
        for step in steps:
            step.status, step.cancelled_at = "cancelled", stamp
            events.append((EventName.STEP_CANCELLED, step))
        return events
