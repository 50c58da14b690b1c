"""The run loop and its endings: turns of prompt, model call and recorded steps, until the
run completes, waits for tool outputs, or ends otherwise.

`RunExecutor.execute` carries one run from `queued` to a terminal status or to
`requires_action`; a `RunLoop` holds one such pass. Steps and messages are made and changed
by the recorder (`recorder.py`); the built-in tools run through their plug-ins
(`tools/registry.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from threadline.backends.base import ChatRequest, Usage
from threadline.backends.registry import ModelRegistry
from threadline.engine import tokens
from threadline.engine.emitter import Emitter
from threadline.engine.history import History, ImageReader
from threadline.engine.model_call import ModelCall, RetrySettings, ToolCall, Turn
from threadline.engine.outcomes import RunFailure, RunIncomplete
from threadline.engine.prompt import build_request
from threadline.engine.reader import RunReader, Started
from threadline.engine.recorder import Announcement, Recorder, now
from threadline.events.names import EventName
from threadline.runs.lifecycle import IllegalTransition
from threadline.runs.models import Run
from threadline.tools.base import AnswerParts, BuiltinTool, ToolContext, ToolRun
from threadline.tools.registry import ToolRegistry

log = logging.getLogger("threadline.engine")

# Told the tokens each model call of a run used: (thread id, id of the key that started the
# run or None, tokens). The rate limits count them (`roles.py`).
TokenCounter = Callable[[str, str | None, int], Awaitable[None]]


class RunLoop:
    def __init__(self, executor: RunExecutor, run: Run) -> None:
        self.executor = executor
        self.run = run
        self.recorder = Recorder(executor.emitter, run)
        self.model_call = ModelCall(executor.settings, self.recorder, self.builtin)
        usage = run.usage or {}
        self.used = Usage(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
        # The run's built-in tools, each with its part in this run.
        self.tool_runs: dict[str, ToolRun] = {}
        # The thread as the run's start read it, for the first turn's prompt.
        self.history: History | None = None

    def builtin(self, name: str) -> tuple[BuiltinTool, ToolRun] | None:
        """The built-in tool that a function name calls, when the run has that tool."""
        tool = self.executor.tools.by_name(name)
        if tool is None or tool.type not in self.tool_runs:
            return None
        return tool, self.tool_runs[tool.type]

    def answer(self, text: str) -> AnswerParts:
        """What the run's tools add to its answer."""
        parts = AnswerParts()
        for tool_run in self.tool_runs.values():
            more = tool_run.answer(text)
            parts.content += more.content
            parts.annotations += more.annotations
            parts.cited += more.cited
        return parts

    # -- the loop ---------------------------------------------------------------------------

    async def execute(self, started: Started) -> None:
        """Carry a queued run to its end or pause."""
        self.start_tools(started.context)
        self.history = started.history
        self.recorder.start()
        try:
            while not await self.turn():
                pass
        except IllegalTransition:
            await self.after_lost_transition()
        except RunIncomplete as incomplete:
            await self.end_incomplete(incomplete.reason)
        except RunFailure as failure:
            await self.fail(failure.code, failure.message)

    def start_tools(self, context: ToolContext) -> None:
        for entry in self.run.tools:
            tool = self.executor.tools.by_type(entry["type"])
            if tool is not None and tool.type not in self.tool_runs:
                self.tool_runs[tool.type] = tool.start(context)

    async def turn(self) -> bool:
        """One model call and what follows from it; True when the run has stopped."""
        run, recorder = self.run, self.recorder
        recorder.new_turn()
        route = self.executor.models.resolve(run.model)
        if route is None:
            raise RunFailure(
                "server_error",
                f"No backend serves the model '{run.model}'. Configure THREADLINE_LLM_BASE_URL "
                "or a models file.",
            )
        if self.history is not None:
            history, self.history = self.history, None
        else:
            history = await self.executor.reader.history(run.thread_id)
        request = await build_request(
            run, route, self.used, history, self.executor.read_image, self.executor.tools
        )
        turn = await self.model_call(route, request)
        usage = self.count(request, turn)
        await self.executor.count_tokens(run, usage.total_tokens)

        calls = turn.ordered_calls()
        if run.parallel_tool_calls is False:
            calls = calls[:1]
        functions = [call for call in calls if self.builtin(call.name) is None]
        builtins = [call for call in calls if call not in functions]
        self.refuse_unknown(functions)
        if builtins:
            await self.run_builtins(builtins, Usage() if functions else usage)
        if functions and run.kind == "response":
            await self.complete_with_calls(functions, usage)
            return True
        if functions:
            await self.require_action(functions, usage)
            return True
        if builtins:
            return False  # the model goes on with what its tools gave it
        if turn.finish and turn.finish.reason == "length":
            # Cut short by a completion bound: the run's budget, or the backend's own (the
            # embedded model's reply bound or its stop at a loop; a server's context). The
            # API's words for either: the message's `max_tokens`, the run's
            # `max_completion_tokens`.
            log.info(
                "run %s: the reply was cut at %d completion tokens (%s); the message and the "
                "run end incomplete",
                run.id,
                usage.completion_tokens,
                "the run's max_completion_tokens"
                if request.max_tokens is not None
                else "the backend's bound",
            )
            events = await recorder.closing(usage, turn.text, self.answer, incomplete="max_tokens")
            if events:
                await recorder.emit(*events)
            raise RunIncomplete("max_completion_tokens")
        closing = await recorder.closing(usage, turn.text, self.answer)
        if run.max_prompt_tokens is not None and self.used.prompt_tokens > run.max_prompt_tokens:
            await recorder.emit(*closing)
            raise RunIncomplete("max_prompt_tokens")
        run.status = "completed"
        run.completed_at = now()
        run.expires_at = None
        # The message, its step and the run end in one transaction.
        await self.end(*closing, (EventName.RUN_COMPLETED, run))
        return True

    def count(self, request: ChatRequest, turn: Turn) -> Usage:
        """The turn's usage as the backend counted it; estimated (and logged as such) when
        the backend reported none."""
        usage = turn.finish.usage if turn.finish and turn.finish.usage else None
        if usage is None:
            usage = self.estimate(request, turn.fragments, "the backend reported no usage")
        return self.add(usage)

    def estimate(self, request: ChatRequest, fragments: int, why: str) -> Usage:
        """Usage by estimate, logged as one: the prompt by its characters, the completion by
        the fragments streamed (about a token each; a character estimate said 442 for
        replies cut at 256), never above the bound that cut it."""
        if request.max_tokens is not None:
            fragments = min(fragments, request.max_tokens)
        usage = Usage(tokens.estimate_request(request), fragments)
        log.info(
            "run %s: %s; estimated %d prompt tokens at %d characters a token, and %d "
            "completion tokens as the fragments it streamed",
            self.run.id,
            why,
            usage.prompt_tokens,
            tokens.CHARS_PER_TOKEN,
            usage.completion_tokens,
        )
        return usage

    def add(self, usage: Usage) -> Usage:
        self.used.prompt_tokens += usage.prompt_tokens
        self.used.completion_tokens += usage.completion_tokens
        self.run.usage = self.used.as_dict()
        return usage

    async def count_unfinished(self) -> None:
        """A model call that a cancel or a failure cut short still used the backend: its
        prompt and what it generated count, by estimate (no usage came)."""
        unfinished, self.model_call.unfinished = self.model_call.unfinished, None
        if unfinished is None or not unfinished[1]:
            return  # nothing came back: nothing is counted (the backend may not have begun)
        request, generated = unfinished
        usage = self.add(self.estimate(request, generated, "a model call ended early"))
        await self.executor.count_tokens(self.run, usage.total_tokens)

    def refuse_unknown(self, calls: list[ToolCall]) -> None:
        """A call to a function the run does not offer fails the run, clearly. The client
        could not answer it (OpenAI's own models are held to the offered names), and asking
        the model again would splice two samplings into what was streamed. Small models
        behind lenient servers write such calls (a name repeated by a server's deltas, a
        name invented)."""
        offered = {
            tool["function"]["name"] for tool in self.run.tools if tool.get("type") == "function"
        }
        unknown = sorted({call.name for call in calls if call.name not in offered})
        if unknown:
            names = ", ".join(f"'{name}'" for name in unknown)
            raise RunFailure(
                "server_error",
                f"The model called {names}, which this run does not offer "
                f"(its functions: {', '.join(sorted(offered)) or 'none'}).",
            )

    async def run_builtins(self, calls: list[ToolCall], usage: Usage) -> None:
        """Run the calls Threadline runs itself and record them as one completed step."""
        recorder = self.recorder
        await recorder.open_builtin_step(recorder.streamed_text)
        details = []
        kept: dict[str, Any] = {}
        for index, call in enumerate(calls):
            found = self.builtin(call.name)
            assert found is not None
            tool, tool_run = found
            await recorder.builtin_running(index, call.id, tool)
            result = await tool_run.call(call.id, call.arguments)
            details.append(result.details)
            kept[call.id] = result.kept
            for part in result.deltas:
                await recorder.builtin_delta(index, tool, part)
        await recorder.complete_builtin_step(details, kept, usage)

    # -- endings ----------------------------------------------------------------------------

    async def require_action(self, calls: list[ToolCall], usage: Usage) -> None:
        """Pause for the client's outputs of the function calls."""
        waiting = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
        step = await self.recorder.function_calls_waiting(waiting, usage)
        self.run.status = "requires_action"
        self.run.required_action = {
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {"tool_calls": waiting},
        }
        try:
            await self.recorder.emit(
                (EventName.RUN_REQUIRES_ACTION, self.run),
                quiet=((EventName.STEP_UPDATED, step),),
            )
        except IllegalTransition:
            await self.after_lost_transition()

    async def complete_with_calls(self, calls: list[ToolCall], usage: Usage) -> None:
        """A response does not pause for function outputs: it completes with its calls,
        which the client answers in the input of the next response."""
        waiting = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in calls
        ]
        step = await self.recorder.function_calls_waiting(waiting, usage)
        stamp = now()
        step.status, step.completed_at = "completed", stamp
        self.run.status = "completed"
        self.run.completed_at = stamp
        self.run.expires_at = None
        await self.end((EventName.STEP_COMPLETED, step), (EventName.RUN_COMPLETED, self.run))

    async def end(self, *events: Announcement) -> None:
        """Emit a run's ending, unless a cancel or an expiry ended it first."""
        try:
            await self.recorder.emit(*events)
        except IllegalTransition:
            await self.after_lost_transition()

    async def after_lost_transition(self) -> None:
        """Someone else moved the run first: a cancel (which this ends), or an expiry."""
        current = await self.executor.reader.load_run(self.run.id)
        if current is not None and current.status == "cancelling":
            self.run.status = "cancelling"
            await self.finish_cancel()

    async def end_incomplete(self, reason: str) -> None:
        recorder = self.recorder
        if recorder.message is not None and recorder.message.status == "in_progress":
            events = await recorder.closing(
                Usage(), recorder.streamed_text, self.answer, incomplete="max_tokens"
            )
            if events:
                await recorder.emit(*events)
        self.run.status = "incomplete"
        self.run.completed_at = now()
        self.run.expires_at = None
        self.run.incomplete_details = {"reason": reason}
        self.run.usage = self.used.as_dict()
        await self.end((EventName.RUN_INCOMPLETE, self.run))

    async def fail(self, code: str, message: str) -> None:
        await self.count_unfinished()
        stamp = now()
        events = self.recorder.fail_open(code, message, stamp)
        self.run.status = "failed"
        self.run.failed_at = stamp
        self.run.expires_at = None
        self.run.last_error = {"code": code, "message": message}
        self.run.usage = self.used.as_dict()
        await self.end(*events, (EventName.RUN_FAILED, self.run))

    async def finish_cancel(self) -> None:
        """cancelling -> cancelled: the step in flight ends cancelled, its message
        incomplete."""
        await self.count_unfinished()
        stamp = now()
        reader = self.executor.reader
        events = self.recorder.cancel_open(
            await reader.open_messages(self.run.id), await reader.open_steps(self.run.id), stamp
        )
        self.run.status = "cancelled"
        self.run.cancelled_at = stamp
        self.run.expires_at = None
        self.run.required_action = None
        self.run.usage = self.used.as_dict()
        events.append((EventName.RUN_CANCELLED, self.run))
        with contextlib.suppress(IllegalTransition):  # already ended by another path
            await self.recorder.emit(*events)


class RunExecutor:
    """Executes runs: what the run queue calls with a run id."""

    def __init__(
        self,
        reader: RunReader,
        emitter: Emitter,
        models: ModelRegistry,
        tools: ToolRegistry,
        read_image: ImageReader,
        settings: RetrySettings | None = None,
        token_counter: TokenCounter | None = None,
    ) -> None:
        self.reader = reader
        self.emitter = emitter
        self.models = models
        self.tools = tools
        self.read_image = read_image
        self.settings = settings or RetrySettings()
        self.token_counter = token_counter

    async def count_tokens(self, run: Run, tokens: int) -> None:
        """Tell the rate limits what a model call used; a failure to count is logged, never
        the run's."""
        if self.token_counter is None or tokens <= 0:
            return
        try:
            await self.token_counter(run.thread_id, run.api_key_id, tokens)
        except Exception:
            log.exception("run %s: its %d tokens could not be counted", run.id, tokens)

    async def execute(self, run_id: str, cancel_requested: Callable[[], bool]) -> None:
        try:
            started = await self.reader.prepare(run_id)
        except Exception:
            # A run that cannot start must not stay queued (its streams open) for ever.
            log.exception("run %s: could not start", run_id)
            run = await self.reader.load_run(run_id)
            if run is not None and run.status == "queued":
                message = "The server had an error while starting this run."
                await RunLoop(self, run).fail("server_error", message)
            return
        if not isinstance(started, Started):
            if started is not None and started.status == "cancelling":
                await RunLoop(self, started).finish_cancel()
            return
        loop = RunLoop(self, started.run)
        try:
            await loop.execute(started)
        except asyncio.CancelledError:
            await loop.recorder.settle()
            if not cancel_requested():
                raise  # shutting down: the run is picked up again on the next start
            loop.run.status = "cancelling"
            await loop.finish_cancel()
        except Exception:
            # A bug must not leave the run active forever.
            log.exception("run %s: unexpected error", run_id)
            await loop.recorder.settle()
            await loop.fail("server_error", "The server had an error while running this run.")

    async def finish_cancel(self, run_id: str) -> None:
        run = await self.reader.load_run(run_id)
        if run is not None and run.status == "cancelling":
            await RunLoop(self, run).finish_cancel()
