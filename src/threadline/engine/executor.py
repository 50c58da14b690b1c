"""The run executor: turns of prompt, model call and recorded steps, until the run ends.

One `Execution` carries a run from `queued` to a terminal status or to
`requires_action`. It works on detached snapshots of the run, its steps and its message,
and emits each change as an event; the store writes it before streams see it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from threadline import ids
from threadline.backends.base import (
    BackendError,
    ChatRequest,
    Finish,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from threadline.backends.embedded import JsonStringReader
from threadline.backends.registry import ModelRegistry, Route
from threadline.engine import truncation
from threadline.engine.emitter import Emitter
from threadline.engine.prompt import ImageReader, system_message, thread_items
from threadline.engine.store import RunStore, Started, ToolContext, snapshot
from threadline.engine.tokens import CHARS_PER_TOKEN, estimate_messages, estimate_tools
from threadline.runs.lifecycle import IllegalTransition
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message
from threadline.tools import file_search
from threadline.tools.code_interpreter import tool as code_interpreter

log = logging.getLogger("threadline.engine")

# Room kept for the reply when no completion budget says otherwise.
DEFAULT_REPLY_RESERVE = 1024
# The tools Threadline runs itself: the function the model calls -> the tool's type.
OWN_TOOLS = {file_search.NAME: "file_search", code_interpreter.NAME: "code_interpreter"}
_CODE_VALUE = re.compile(r'\s*\{\s*"code"\s*:\s*"')


def _delta(step_id: str, call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": step_id,
        "object": "thread.run.step.delta",
        "delta": {"step_details": {"type": "tool_calls", "tool_calls": [call]}},
    }


@dataclass(frozen=True)
class ExecutorSettings:
    max_attempts: int = 4
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0


class RunFailure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RunIncomplete(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def now() -> int:
    return int(time.time())


def _zero_usage() -> dict[str, int]:
    return Usage().as_dict()


@dataclass
class _Call:
    """A tool call as it streams in."""

    id: str
    name: str = ""
    arguments: str = ""
    forwarded: int = 0  # argument characters already sent to streams


@dataclass
class _Turn:
    """What one model call produced (the attempt that succeeded)."""

    text: str = ""
    calls: dict[int, _Call] = field(default_factory=dict)
    finish: Finish | None = None


class Execution:
    def __init__(self, executor: RunExecutor, run: Run) -> None:
        self.executor = executor
        self.emitter = executor.emitter
        self.run = run
        self.message: Message | None = None
        self.message_step: RunStep | None = None
        self.tool_step: RunStep | None = None
        self.streamed_text = ""  # the current message's text as streams have seen it
        self.calls: dict[int, _Call] = {}  # tool calls as streams have seen them
        usage = run.usage or {}
        self.used = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
        self._writing: asyncio.Future[None] | None = None
        # The run's move to in_progress, written while its first model call starts.
        self._starting: asyncio.Future[None] | None = None
        # The write of objects announced before they were stored (see announce_then_write).
        self._behind: asyncio.Future[None] | None = None
        # What the run's searches found, in marker order; and where it may search.
        self.sources: list[file_search.Source] = []
        self.context = ToolContext()
        # The step of the calls Threadline runs itself, opened as the model writes them.
        self.server_step: RunStep | None = None
        self.code_readers: dict[int, JsonStringReader] = {}
        # What code made for the answer: figures, and files by their /mnt/data name.
        self.images: list[str] = []
        self.produced: dict[str, str] = {}
        # The thread as the run's start read it, for the first turn's prompt.
        self.history: tuple[list[Message], list[RunStep]] | None = None

    # -- events ---------------------------------------------------------------------------

    async def emit(self, *events: tuple[str, Any], quiet: tuple[tuple[str, Any], ...] = ()) -> None:
        """Emit events (and store `quiet` objects unannounced); a write in flight finishes
        even if this task is cancelled."""
        await self.caught_up()
        self._writing = asyncio.ensure_future(self.emitter.emit(self.run.id, *events, quiet=quiet))
        await asyncio.shield(self._writing)

    async def announce_then_write(self, *events: tuple[str, Any]) -> None:
        """Publish the creation of objects first and store them right after: the first token
        of an answer does not wait for its message's write. Every event that changes what
        exists (a completion, a status) is still stored before it is published, and waits
        for this write."""
        await self.caught_up()
        stored = [(name, snapshot(obj)) for name, obj in events]
        self._behind = asyncio.ensure_future(self.emitter.store.apply(stored))
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

    async def end(self, *events: tuple[str, Any]) -> None:
        """Emit a run's ending, unless a cancel or an expiry ended it first."""
        try:
            await self.emit(*events)
        except IllegalTransition:
            current = await self.executor.store.load_run(self.run.id)
            if current is not None and current.status == "cancelling":
                self.run.status = "cancelling"
                await self.finish_cancel()

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

    async def publish(self, *events: tuple[str, Any]) -> None:
        await self.started()
        await self.emitter.publish(self.run.id, *events)

    # -- the loop --------------------------------------------------------------------------

    async def execute(self, started: Started) -> None:
        """Carry a queued run to its end or pause."""
        self.context, self.sources = started.context, started.context.sources
        self.history = (started.messages, started.steps)
        self.run.status = "in_progress"
        self.run.started_at = self.run.started_at or now()
        # Written (then announced) while the prompt is built and the model called: the
        # time to the first token does not wait for it. The next event waits for it.
        in_progress = ("thread.run.in_progress", snapshot(self.run))
        self._starting = asyncio.ensure_future(self.emitter.emit(self.run.id, in_progress))
        try:
            while not await self.turn():
                pass
        except IllegalTransition:
            # Someone else moved the run first: a cancel, or an expiry.
            current = await self.executor.store.load_run(self.run.id)
            if current is not None and current.status == "cancelling":
                self.run.status = "cancelling"
                await self.finish_cancel()
        except RunIncomplete as incomplete:
            await self.end_incomplete(incomplete.reason)
        except RunFailure as failure:
            await self.fail(failure.code, failure.message)

    async def turn(self) -> bool:
        """One model call and what follows from it; True when the run has stopped."""
        run = self.run
        self.message = self.message_step = self.tool_step = self.server_step = None
        self.streamed_text, self.calls, self.code_readers = "", {}, {}
        route = self.executor.registry.resolve(run.model)
        if route is None:
            raise RunFailure(
                "server_error",
                f"No backend serves the model '{run.model}'. Configure THREADLINE_LLM_BASE_URL "
                "or a models file.",
            )
        request = await self.prompt(route)
        turn = await self.call(route, request)
        usage = turn.finish.usage if turn.finish and turn.finish.usage else None
        if usage is None:
            usage = Usage(
                estimate_messages(request.messages) + estimate_tools(request.tools),
                max(1, len(turn.text) // 4),
            )
        self.used.prompt_tokens += usage.prompt_tokens
        self.used.completion_tokens += usage.completion_tokens
        self.run.usage = self.used.as_dict()

        calls = [turn.calls[index] for index in sorted(turn.calls)]
        if run.parallel_tool_calls is False:
            calls = calls[:1]
        functions = [call for call in calls if not self.executor.runs_itself(call.name, run)]
        own = [call for call in calls if call not in functions]
        if own:
            await self.run_tools(own, Usage() if functions else usage)
        if functions:
            await self.require_action(functions, usage)
            return True
        if own:
            return False  # the model goes on with what its tools gave it
        capped = run.max_completion_tokens is not None and request.max_tokens is not None
        if turn.finish and turn.finish.reason == "length" and capped:
            await self.close_message(usage, turn.text, incomplete="max_tokens")
            raise RunIncomplete("max_completion_tokens")
        closing = await self.closing(usage, turn.text)
        if run.max_prompt_tokens is not None and self.used.prompt_tokens > run.max_prompt_tokens:
            await self.emit(*closing)
            raise RunIncomplete("max_prompt_tokens")
        self.run.status = "completed"
        self.run.completed_at = now()
        self.run.expires_at = None
        # The message, its step and the run end in one transaction.
        await self.end(*closing, ("thread.run.completed", self.run))
        return True

    async def prompt(self, route: Route) -> ChatRequest:
        run = self.run
        max_tokens = None
        if run.max_completion_tokens is not None:
            max_tokens = run.max_completion_tokens - self.used.completion_tokens
            if max_tokens <= 0:
                raise RunIncomplete("max_completion_tokens")
        tools = self.executor.chat_tools(run.tools)
        system = system_message(run.instructions)
        fixed = estimate_messages(system) + estimate_tools(tools)
        budget = route.context_window - (max_tokens or DEFAULT_REPLY_RESERVE) - fixed
        prompt_limited = False
        if run.max_prompt_tokens is not None:
            remaining = run.max_prompt_tokens - self.used.prompt_tokens - fixed
            if remaining < budget:
                budget, prompt_limited = remaining, True
        if self.history is not None:
            (messages, steps), self.history = self.history, None
        else:
            messages, steps = await self.executor.store.history(run.thread_id)
        # Search results may fill about a third of the context.
        search_chars = route.context_window * CHARS_PER_TOKEN // 3
        items = await thread_items(messages, steps, self.executor.read_image, search_chars)
        kept = truncation.apply(items, run.truncation_strategy, budget)
        if kept is None:
            if prompt_limited:
                raise RunIncomplete("max_prompt_tokens")
            raise RunFailure(
                "invalid_prompt",
                f"The thread's latest message does not fit the context window of "
                f"'{run.model}' ({route.context_window} tokens).",
            )
        chat = [*system, *(message for item in kept for message in item.messages)]
        tool_choice = run.tool_choice
        if tool_choice not in ("none", "auto") and any(s.run_id == run.id for s in steps):
            # `required` or a named tool asks for a call before the answer, not forever.
            tool_choice = "auto"
        return ChatRequest(
            model=route.served_name,
            messages=chat,
            tools=tools or None,
            tool_choice=self.executor.chat_tool_choice(tool_choice) if tools else None,
            parallel_tool_calls=run.parallel_tool_calls if tools else None,
            response_format=(
                run.response_format if isinstance(run.response_format, dict) else None
            ),
            temperature=run.temperature,
            top_p=run.top_p,
            max_tokens=max_tokens,
            reasoning_effort=run.reasoning_effort,
        )

    # -- the model call --------------------------------------------------------------------

    async def call(self, route: Route, request: ChatRequest) -> _Turn:
        """Stream one completion, retrying faults with backoff.

        Streams hear each character once: after a retry, text and arguments that an earlier
        attempt already forwarded are not sent again. The stored message is the final
        attempt's whole text.
        """
        settings = self.executor.settings
        for attempt in range(1, settings.max_attempts + 1):
            turn = _Turn()
            try:
                async for chunk in route.backend.stream(request):
                    if isinstance(chunk, TextDelta):
                        turn.text += chunk.text
                        if len(turn.text) > len(self.streamed_text) and not self.calls:
                            await self.on_text(turn.text[len(self.streamed_text) :])
                    elif isinstance(chunk, ToolCallDelta):
                        await self.on_tool_delta(turn, chunk)
                    elif isinstance(chunk, Finish):
                        turn.finish = chunk
                return turn
            except BackendError as error:
                if not error.retryable or attempt == settings.max_attempts:
                    raise RunFailure(error.run_error_code, error.message) from error
                delay = min(
                    settings.retry_max_delay, settings.retry_base_delay * 2 ** (attempt - 1)
                )
                if error.retry_after:
                    delay = max(delay, min(error.retry_after, settings.retry_max_delay))
                log.warning("run %s: %s; retry %d in %.2fs", self.run.id, error, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def on_text(self, fragment: str) -> None:
        if self.message is None:
            await self.open_message()
            value: dict[str, Any] = {"value": fragment, "annotations": []}
        else:
            value = {"value": fragment}
        assert self.message is not None
        self.streamed_text += fragment
        delta = {
            "id": self.message.id,
            "object": "thread.message.delta",
            "delta": {"content": [{"index": 0, "type": "text", "text": value}]},
        }
        await self.publish(("thread.message.delta", delta))

    async def on_tool_delta(self, turn: _Turn, chunk: ToolCallDelta) -> None:
        call = turn.calls.get(chunk.index)
        if call is None:
            known = self.calls.get(chunk.index)
            call = turn.calls[chunk.index] = _Call(id=known.id if known else ids.new_id(ids.CALL))
        call.name += chunk.name or ""
        call.arguments += chunk.arguments
        if not call.name:
            return  # forward a call once its name is known
        if self.executor.runs_itself(call.name, self.run):
            await self.on_own_tool_delta(turn, chunk.index, call)
            return
        if self.message is not None and self.message.status == "in_progress":
            # Text came first: that message is done once the model turns to tools.
            await self.close_message(Usage(), turn.text, closing_for_tools=True)
        if self.tool_step is None:
            await self.open_tool_step()
        streamed = self.calls.get(chunk.index)
        if streamed is None:
            streamed = self.calls[chunk.index] = _Call(id=call.id, name=call.name)
            first = {
                "index": chunk.index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": "", "output": None},
            }
            await self.publish(("thread.run.step.delta", self._step_delta(first)))
        if len(call.arguments) > streamed.forwarded:
            fragment = call.arguments[streamed.forwarded :]
            streamed.forwarded = len(call.arguments)
            more = {"index": chunk.index, "type": "function", "function": {"arguments": fragment}}
            await self.publish(("thread.run.step.delta", self._step_delta(more)))

    def _step_delta(self, call: dict[str, Any]) -> dict[str, Any]:
        assert self.tool_step is not None
        return _delta(self.tool_step.id, call)

    # -- steps and messages ----------------------------------------------------------------

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
            assistant_id=self.run.assistant_id,
            run_id=self.run.id,
            status="in_progress",
            incomplete_details=None,
            completed_at=None,
            incomplete_at=None,
            metadata_={},
        )
        self.message, self.message_step = message, step
        await self.announce_then_write(
            ("thread.run.step.created", step),
            ("thread.run.step.in_progress", step),
            ("thread.message.created", message),
            ("thread.message.in_progress", message),
        )

    async def close_message(
        self,
        usage: Usage,
        text: str,
        *,
        incomplete: str | None = None,
        closing_for_tools: bool = False,
    ) -> None:
        """Complete the turn's message and its step (creating them if the model was silent)."""
        events = await self.closing(
            usage, text, incomplete=incomplete, closing_for_tools=closing_for_tools
        )
        if events:
            await self.emit(*events)

    async def closing(
        self,
        usage: Usage,
        text: str,
        *,
        incomplete: str | None = None,
        closing_for_tools: bool = False,
    ) -> list[tuple[str, Any]]:
        """The events that complete the turn's message and its step, for the caller to emit
        (the message and its step are created first if the model was silent)."""
        if self.message is None:
            if closing_for_tools:
                return []
            await self.open_message()
        message, step = self.message, self.message_step
        assert message is not None and step is not None
        if message.status != "in_progress":
            return []
        annotations: list[dict[str, Any]] = []
        content: list[dict[str, Any]] = []
        if not closing_for_tools:
            if self.sources:
                text, annotations = file_search.annotate(text, self.sources)
            annotations += code_interpreter.file_links(text, self.produced)
            annotations.sort(key=lambda annotation: annotation["start_index"])
            content = [
                {"type": "image_file", "image_file": {"file_id": image, "detail": "auto"}}
                for image in self.images
            ]
            self.images = []
        message.content = [
            *content,
            {"type": "text", "text": {"value": text, "annotations": annotations}},
        ]
        stamp = now()
        if incomplete:
            message.status, message.incomplete_at = "incomplete", stamp
            message.incomplete_details = {"reason": incomplete}
        else:
            message.status, message.completed_at = "completed", stamp
        step.status, step.completed_at = "completed", stamp
        step.usage = _zero_usage() if closing_for_tools else usage.as_dict()
        return [(f"thread.message.{message.status}", message), ("thread.run.step.completed", step)]

    async def open_tool_step(self) -> None:
        self.tool_step = self.new_step({"type": "tool_calls", "tool_calls": []})
        await self.emit(
            ("thread.run.step.created", self.tool_step),
            ("thread.run.step.in_progress", self.tool_step),
        )

    async def open_server_step(self, turn_text: str) -> RunStep:
        if self.server_step is None:
            if self.message is not None and self.message.status == "in_progress":
                await self.close_message(Usage(), turn_text, closing_for_tools=True)
            self.server_step = self.new_step({"type": "tool_calls", "tool_calls": []})
            await self.emit(
                ("thread.run.step.created", self.server_step),
                ("thread.run.step.in_progress", self.server_step),
            )
        return self.server_step

    async def on_own_tool_delta(self, turn: _Turn, index: int, call: _Call) -> None:
        """Stream a call Threadline runs itself: for code, the code as the model writes it."""
        step = await self.open_server_step(turn.text)
        kind = self.executor.own_tool_type(call.name)
        if index not in self.calls:
            self.calls[index] = _Call(id=call.id, name=call.name)
            first: dict[str, Any] = {"index": index, "id": call.id, "type": kind}
            if kind == "code_interpreter":
                first["code_interpreter"] = {"input": "", "outputs": []}
                self.code_readers[index] = JsonStringReader()
            else:
                first["file_search"] = {}
            await self.publish(("thread.run.step.delta", _delta(step.id, first)))
        reader = self.code_readers.get(index)
        if reader is None:
            return
        streamed = self.calls[index]
        if streamed.forwarded == 0:
            opening = _CODE_VALUE.match(call.arguments)
            if opening is None:
                return
            streamed.forwarded = opening.end()
        fragment = reader.feed(call.arguments[streamed.forwarded :])
        streamed.forwarded = len(call.arguments)
        if fragment:
            more = {"index": index, "type": kind, "code_interpreter": {"input": fragment}}
            await self.publish(("thread.run.step.delta", _delta(step.id, more)))

    async def run_tools(self, calls: list[_Call], usage: Usage) -> None:
        """Run the calls Threadline runs itself and record them as one completed step."""
        step = await self.open_server_step(self.streamed_text)
        details = []
        for index, call in enumerate(calls):
            if self.executor.own_tool_type(call.name) == "code_interpreter":
                code = code_interpreter.code_of(call.arguments)
                outcome = await self.executor.code_interpreter.run(
                    self.context.project_id,
                    self.run.thread_id,
                    self.context.code_files,
                    code,
                    call.id,
                )
                self.images += outcome.images
                self.produced.update(outcome.files)
                details.append(
                    {
                        "id": call.id,
                        "type": "code_interpreter",
                        "code_interpreter": {"input": code, "outputs": outcome.outputs},
                    }
                )
                # Deltas number each output, as the SDK merges them by index.
                outputs = {"outputs": [{"index": i, **o} for i, o in enumerate(outcome.outputs)]}
                delta = {"index": index, "type": "code_interpreter", "code_interpreter": outputs}
                await self.publish(("thread.run.step.delta", _delta(step.id, delta)))
                step.inputs = {**(step.inputs or {}), call.id: {"output": outcome.text}}
                continue
            options = next(
                (t.get("file_search") or {} for t in self.run.tools if t["type"] == "file_search"),
                {},
            )
            ranking, hits = await self.executor.file_search.run(
                self.context.store_ids, options, file_search.query_of(call.arguments)
            )
            details.append(file_search.call_details(call.id, ranking, hits))
            self.sources += [file_search.Source(hit.file_id, hit.filename) for hit in hits]
            step.inputs = {**(step.inputs or {}), call.id: {"arguments": call.arguments}}
        step.step_details = {"type": "tool_calls", "tool_calls": details}
        step.status, step.completed_at = "completed", now()
        step.usage = usage.as_dict()
        await self.emit(("thread.run.step.completed", step))

    async def require_action(self, calls: list[_Call], usage: Usage) -> None:
        if self.tool_step is None:
            await self.open_tool_step()
        step = self.tool_step
        assert step is not None
        step.step_details = {
            "type": "tool_calls",
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments, "output": None},
                }
                for call in calls
            ],
        }
        # Kept with the step now, shown once the step completes.
        step.usage = usage.as_dict()
        self.run.status = "requires_action"
        self.run.required_action = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                    for call in calls
                ]
            },
        }
        try:
            await self.emit(
                ("thread.run.requires_action", self.run), quiet=(("thread.run.step.updated", step),)
            )
        except IllegalTransition:
            await self.end()

    # -- endings ---------------------------------------------------------------------------

    async def end_incomplete(self, reason: str) -> None:
        if self.message is not None and self.message.status == "in_progress":
            await self.close_message(Usage(), self.streamed_text, incomplete="max_tokens")
        self.run.status = "incomplete"
        self.run.completed_at = now()
        self.run.expires_at = None
        self.run.incomplete_details = {"reason": reason}
        self.run.usage = self.used.as_dict()
        await self.end(("thread.run.incomplete", self.run))

    async def fail(self, code: str, message: str) -> None:
        stamp = now()
        events: list[tuple[str, Any]] = []
        if self.message is not None and self.message.status == "in_progress":
            self._incomplete_message(self.message, "run_failed", stamp)
            events.append(("thread.message.incomplete", self.message))
        for step in (self.message_step, self.tool_step):
            if step is not None and step.status == "in_progress":
                step.status, step.failed_at = "failed", stamp
                # Steps know only these two codes.
                step_code = code if code == "rate_limit_exceeded" else "server_error"
                step.last_error = {"code": step_code, "message": message}
                events.append(("thread.run.step.failed", step))
        self.run.status = "failed"
        self.run.failed_at = stamp
        self.run.expires_at = None
        self.run.last_error = {"code": code, "message": message}
        self.run.usage = self.used.as_dict()
        events.append(("thread.run.failed", self.run))
        await self.end(*events)

    def _incomplete_message(self, message: Message, reason: str, stamp: int) -> None:
        if not message.content:
            text = self.streamed_text if message is self.message else ""
            message.content = [{"type": "text", "text": {"value": text, "annotations": []}}]
        message.status, message.incomplete_at = "incomplete", stamp
        message.incomplete_details = {"reason": reason}

    async def finish_cancel(self) -> None:
        """cancelling -> cancelled: the step in flight ends cancelled, its message
        incomplete."""
        stamp = now()
        events: list[tuple[str, Any]] = []
        open_messages = {m.id: m for m in await self.executor.store.open_messages(self.run.id)}
        if self.message is not None and self.message.id in open_messages:
            open_messages[self.message.id] = self.message
        for message in open_messages.values():
            self._incomplete_message(message, "run_cancelled", stamp)
            events.append(("thread.message.incomplete", message))
        for step in await self.executor.store.open_steps(self.run.id):
            step.status, step.cancelled_at = "cancelled", stamp
            events.append(("thread.run.step.cancelled", step))
        self.run.status = "cancelled"
        self.run.cancelled_at = stamp
        self.run.expires_at = None
        self.run.required_action = None
        self.run.usage = self.used.as_dict()
        events.append(("thread.run.cancelled", self.run))
        with contextlib.suppress(IllegalTransition):  # already ended by another path
            await self.emit(*events)


class RunExecutor:
    def __init__(
        self,
        store: RunStore,
        emitter: Emitter,
        registry: ModelRegistry,
        read_image: ImageReader,
        file_searcher: file_search.FileSearch,
        interpreter: code_interpreter.CodeInterpreter,
        settings: ExecutorSettings | None = None,
    ) -> None:
        self.store = store
        self.emitter = emitter
        self.registry = registry
        self.read_image = read_image
        self.file_search = file_searcher
        self.code_interpreter = interpreter
        self.settings = settings or ExecutorSettings()

    @staticmethod
    def own_tool_type(name: str) -> str | None:
        """The tool type of a function name the model calls, for the tools Threadline runs."""
        return OWN_TOOLS.get(name)

    def runs_itself(self, name: str, run: Run) -> bool:
        """Whether a call the model makes is one of the tools Threadline runs."""
        kind = OWN_TOOLS.get(name)
        return kind is not None and any(t["type"] == kind for t in run.tools)

    def chat_tools(self, tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The run's tools as chat-completion tools."""
        chat = []
        for tool in tools:
            if tool["type"] == "function":
                function = {
                    key: value for key, value in tool["function"].items() if value is not None
                }
                chat.append({"type": "function", "function": function})
            elif tool["type"] == "file_search":
                chat.append(file_search.CHAT_TOOL)
            elif tool["type"] == "code_interpreter":
                chat.append(code_interpreter.CHAT_TOOL)
        return chat

    def chat_tool_choice(self, tool_choice: Any) -> Any:
        """The run's `tool_choice` as chat completions take it: a named function, or a mode.
        A tool Threadline runs itself is named by its function."""
        if isinstance(tool_choice, dict) and tool_choice.get("type") in OWN_TOOLS.values():
            name = next(n for n, kind in OWN_TOOLS.items() if kind == tool_choice["type"])
            return {"type": "function", "function": {"name": name}}
        return tool_choice

    async def execute(self, run_id: str, cancel_requested: Callable[[], bool]) -> None:
        try:
            started = await self.store.prepare(run_id)
        except Exception:
            # A run that cannot start must not stay queued (its streams open) for ever.
            log.exception("run %s: could not start", run_id)
            run = await self.store.load_run(run_id)
            if run is not None and run.status == "queued":
                message = "The server had an error while starting this run."
                await Execution(self, run).fail("server_error", message)
            return
        if not isinstance(started, Started):
            if started is not None and started.status == "cancelling":
                await Execution(self, started).finish_cancel()
            return
        execution = Execution(self, started.run)
        try:
            await execution.execute(started)
        except asyncio.CancelledError:
            await execution.settle()
            if not cancel_requested():
                raise  # shutting down: the run is picked up again on the next start
            execution.run.status = "cancelling"
            await execution.finish_cancel()
        except Exception:
            # A bug must not leave the run active forever.
            log.exception("run %s: unexpected error", run_id)
            await execution.settle()
            await execution.fail("server_error", "The server had an error while running this run.")

    async def finish_cancel(self, run_id: str) -> None:
        run = await self.store.load_run(run_id)
        if run is not None and run.status == "cancelling":
            await Execution(self, run).finish_cancel()
