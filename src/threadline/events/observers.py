"""Consumers of run events beside the streams: a bus that hands every published event to
observers first (the run log here; metrics would be another), whichever process publishes
it (an API process its creation, a worker the rest)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from threadline.events.bus import Event, EventBus, Subscription
from threadline.events.names import EventName

log = logging.getLogger("threadline.runs")

Observer = Callable[[str, Event, "RunTimes"], None]

# The transitions a run logs, once each.
_LOGGED = frozenset(
    {
        EventName.RUN_CREATED,
        EventName.RUN_IN_PROGRESS,
        EventName.RUN_REQUIRES_ACTION,
        EventName.RUN_COMPLETED,
        EventName.RUN_FAILED,
        EventName.RUN_CANCELLED,
        EventName.RUN_EXPIRED,
        EventName.RUN_INCOMPLETE,
    }
)
_ENDS = frozenset(
    {
        EventName.RUN_COMPLETED,
        EventName.RUN_FAILED,
        EventName.RUN_CANCELLED,
        EventName.RUN_EXPIRED,
        EventName.RUN_INCOMPLETE,
    }
)


MAX_RUNS_TIMED = 100_000


@dataclass
class RunTimes:
    """When this process saw a run's milestones (monotonic seconds; the runs' own timestamps
    are whole seconds)."""

    created: float | None = None
    started: float | None = None
    first_token: float | None = None  # seconds from `started`


class ObservedBus:
    """Hands each event, with the run's times, to the observers before publishing it."""

    def __init__(self, inner: EventBus, observers: Sequence[Observer]) -> None:
        self.inner = inner
        self.observers = list(observers)
        # Bounded: an API process sees runs created that end in a worker, never here.
        self._times: OrderedDict[str, RunTimes] = OrderedDict()

    async def subscribe(self, run_id: str, after: str | None = None) -> Subscription:
        return await self.inner.subscribe(run_id, after)

    async def publish(self, run_id: str, event: Event) -> None:
        times = self._tick(run_id, event.name)
        for observe in self.observers:
            try:
                observe(run_id, event, times)
            except Exception:  # an observer never stops a run
                log.exception("observing %s of run %s failed", event.name, run_id)
        if event.name in _ENDS:
            self._times.pop(run_id, None)
        elif event.name == EventName.RUN_REQUIRES_ACTION:
            times.started = times.first_token = None  # the next pass starts afresh
        await self.inner.publish(run_id, event)

    def _tick(self, run_id: str, name: str) -> RunTimes:
        times = self._times.get(run_id)
        if times is None:
            times = self._times[run_id] = RunTimes()
            if len(self._times) > MAX_RUNS_TIMED:
                self._times.popitem(last=False)
        now = time.monotonic()
        if name == EventName.RUN_CREATED:
            times.created = now
        elif name == EventName.RUN_IN_PROGRESS:
            times.started = now
        elif name == EventName.MESSAGE_DELTA and times.started and times.first_token is None:
            times.first_token = now - times.started
        return times

    async def aclose(self) -> None:
        await self.inner.aclose()


class RunLog:
    """One line per run transition, with what an operator asks about it: ids, model and
    backend, how long it queued, its time to first token and in total, tokens, and the
    error code of a failure."""

    def __init__(self, backend_of: Callable[[str], str | None] | None = None) -> None:
        self.backend_of = backend_of

    def __call__(self, run_id: str, event: Event, times: RunTimes) -> None:
        name = event.name
        now = time.monotonic()
        if name not in _LOGGED or not isinstance(event.data, dict):
            return
        run: dict[str, Any] = event.data
        fields: dict[str, Any] = {
            "run_id": run_id,
            "thread_id": run.get("thread_id"),
            "assistant_id": run.get("assistant_id"),
            "model": run.get("model"),
            "run_status": run.get("status"),
        }
        if self.backend_of is not None:
            fields["backend"] = self.backend_of(run.get("model") or "")
        created, started = times.created, times.started
        if name == EventName.RUN_IN_PROGRESS and created is not None:
            fields["queued_ms"] = round(1000 * (now - created), 1)
        elif name == EventName.RUN_IN_PROGRESS and run.get("started_at") and run.get("created_at"):
            fields["queued_ms"] = 1000 * (run["started_at"] - run["created_at"])
        if name in _ENDS or name == EventName.RUN_REQUIRES_ACTION:
            if times.first_token is not None:
                fields["first_token_ms"] = round(1000 * times.first_token, 1)
            ended = run.get("completed_at") or run.get("failed_at") or run.get("cancelled_at")
            if created is not None:
                fields["total_ms"] = round(1000 * (now - created), 1)
            elif ended and run.get("created_at"):
                fields["total_ms"] = 1000 * (ended - run["created_at"])  # whole seconds
            if started is not None:
                fields["run_ms"] = round(1000 * (now - started), 1)
            usage = run.get("usage") or {}
            fields["prompt_tokens"] = usage.get("prompt_tokens")
            fields["completion_tokens"] = usage.get("completion_tokens")
            if run.get("last_error"):
                fields["error_code"] = run["last_error"].get("code")
        level = logging.WARNING if name == EventName.RUN_FAILED else logging.INFO
        log.log(level, "run %s %s", run_id, run.get("status"), extra=fields)
