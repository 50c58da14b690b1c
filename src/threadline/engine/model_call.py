"""One model call of a run: the backend's stream turned into the run's deltas, with
retries of faults.

A fault is retried only while nothing of the answer has reached clients. Once text or a call
has been streamed, a new attempt would sample a different answer, and clients would read
two spliced together: the run fails instead, its message keeping what was streamed (ended
incomplete), so the stored message is always the deltas a client received.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from threadline import ids, metrics
from threadline.backends.base import (
    BackendError,
    ChatRequest,
    Finish,
    TextDelta,
    ToolCallDelta,
)
from threadline.backends.registry import Route
from threadline.engine.outcomes import RunFailure
from threadline.engine.recorder import Recorder
from threadline.tools.base import BuiltinTool, ToolRun

log = logging.getLogger("threadline.engine")

# The built-in tool (and its part in this run) that a function name calls, if any.
BuiltinLookup = Callable[[str], tuple[BuiltinTool, ToolRun] | None]


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 4
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0


@dataclass
class ToolCall:
    """A tool call as it streams in."""

    id: str
    name: str = ""
    arguments: str = ""


@dataclass
class Turn:
    """What one model call produced (the attempt that succeeded)."""

    text: str = ""
    calls: dict[int, ToolCall] = field(default_factory=dict)
    finish: Finish | None = None
    # Text and call fragments received: servers stream about one token a fragment, the best
    # count there is when a backend reports no usage.
    fragments: int = 0

    def ordered_calls(self) -> list[ToolCall]:
        return [self.calls[index] for index in sorted(self.calls)]


class ModelCall:
    def __init__(self, settings: RetrySettings, recorder: Recorder, builtin: BuiltinLookup):
        self.settings = settings
        self.recorder = recorder
        self.builtin = builtin
        # The model call in flight (its request and the fragments every attempt streamed),
        # so that a run cancelled or failed mid-answer counts what was generated.
        self.unfinished: tuple[ChatRequest, int] | None = None

    async def __call__(self, route: Route, request: ChatRequest) -> Turn:
        """Stream one completion, retrying faults with backoff."""
        settings = self.settings
        recorder = self.recorder
        generated = 0
        self.unfinished = (request, generated)
        for attempt in range(1, settings.max_attempts + 1):
            turn = Turn()
            try:
                async for chunk in route.backend.stream(request):
                    if isinstance(chunk, TextDelta | ToolCallDelta):
                        turn.fragments += 1
                        generated += 1
                        self.unfinished = (request, generated)
                    if isinstance(chunk, TextDelta):
                        turn.text += chunk.text
                        seen = len(recorder.streamed_text)
                        if len(turn.text) > seen and not recorder.calls:
                            await recorder.text(turn.text[seen:])
                    elif isinstance(chunk, ToolCallDelta):
                        await self._tool_call(turn, chunk)
                    elif isinstance(chunk, Finish):
                        turn.finish = chunk
                metrics.BACKEND_REQUESTS.labels(route.backend_name, "ok").inc()
                self.unfinished = None
                return turn
            except BackendError as error:
                metrics.BACKEND_REQUESTS.labels(route.backend_name, error.kind).inc()
                if not error.retryable or attempt == settings.max_attempts:
                    raise RunFailure(error.run_error_code, error.message) from error
                if recorder.streamed_text or recorder.calls:
                    # Clients hold part of the answer, and a new attempt samples anew: joined
                    # to it, they would read two answers spliced ("As a young child,ote
                    # village..."). The part they hold is kept, ended incomplete.
                    raise RunFailure(
                        error.run_error_code,
                        f"{error.message}; this after part of the answer had been streamed, "
                        "which is kept as it was (a new attempt would not write the same).",
                    ) from error
                metrics.BACKEND_RETRIES.inc()
                delay = min(
                    settings.retry_max_delay, settings.retry_base_delay * 2 ** (attempt - 1)
                )
                if error.retry_after:
                    delay = max(delay, min(error.retry_after, settings.retry_max_delay))
                log.warning("run %s: %s; retry %d in %.2fs", recorder.run.id, error, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _tool_call(self, turn: Turn, chunk: ToolCallDelta) -> None:
        call = turn.calls.get(chunk.index)
        if call is None:
            call = turn.calls[chunk.index] = ToolCall(ids.new_id(ids.CALL))
        call.name += chunk.name or ""
        call.arguments += chunk.arguments
        if not call.name:
            return  # forward a call once its name is known
        builtin = self.builtin(call.name)
        if builtin is not None:
            tool, tool_run = builtin
            await self.recorder.builtin_call(
                turn.text, chunk.index, call.id, call.arguments, tool, tool_run
            )
        else:
            await self.recorder.function_call(
                turn.text, chunk.index, call.id, call.name, call.arguments
            )
