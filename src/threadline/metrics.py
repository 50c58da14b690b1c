"""Prometheus metrics (prometheus-client), one set per process: each API process and each
worker answers `GET /metrics` with its own. Where several processes of one host share a
registry directory (`PROMETHEUS_MULTIPROC_DIR`, the library's multi-process mode), the
endpoint answers for all of them.

Run metrics come from run events (`RunMetrics`, an observer of the bus), so they count in the
process that publishes each event: creations in API processes, the rest in workers.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from threadline.events.bus import Event
from threadline.events.names import EventName
from threadline.events.observers import RunTimes

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

RUNS = Counter("threadline_runs_total", "Runs that ended, by status and model", ["status", "model"])
RUN_DURATION = Histogram(
    "threadline_run_duration_seconds", "From a run's creation to its end or pause", buckets=_SECONDS
)
RUN_FIRST_TOKEN = Histogram(
    "threadline_run_first_token_seconds",
    "From a run's move to in progress to its first text",
    buckets=_SECONDS,
)
RUNS_ACTIVE = Gauge(
    "threadline_runs_active", "Runs executing in this process", multiprocess_mode="livesum"
)
BACKEND_REQUESTS = Counter(
    "threadline_backend_requests_total",
    "Model calls, by backend and outcome",
    ["backend", "outcome"],
)
BACKEND_RETRIES = Counter("threadline_backend_retries_total", "Model calls tried again")
TOKENS = Counter("threadline_tokens_total", "Tokens used by runs", ["model", "kind"])
HTTP_REQUESTS = Counter(
    "threadline_http_requests_total", "HTTP requests, by route and status", ["route", "status"]
)
HTTP_DURATION = Histogram(
    "threadline_http_request_duration_seconds",
    "HTTP request durations (a stream's until it ends)",
    ["route"],
    buckets=_SECONDS,
)
SSE_STREAMS = Gauge(
    "threadline_sse_streams_open", "Event streams open in this process", multiprocess_mode="livesum"
)
INGESTED = Counter(
    "threadline_ingestion_files_total", "Files ingested, by how it ended", ["status"]
)
INGESTION_BACKLOG = Gauge(
    "threadline_ingestion_backlog",
    "Files waiting for ingestion, as this process last saw",
    multiprocess_mode="max",
)
SANDBOX_SESSIONS = Gauge(
    "threadline_sandbox_sessions", "code_interpreter sessions alive", multiprocess_mode="livesum"
)

_ENDS = {
    EventName.RUN_COMPLETED,
    EventName.RUN_FAILED,
    EventName.RUN_CANCELLED,
    EventName.RUN_EXPIRED,
    EventName.RUN_INCOMPLETE,
    EventName.RUN_REQUIRES_ACTION,
}


class RunMetrics:
    """Counts runs from their events (an observer of `events.observers.ObservedBus`)."""

    def __call__(self, run_id: str, event: Event, times: RunTimes) -> None:
        name = event.name
        if name == EventName.RUN_IN_PROGRESS:
            RUNS_ACTIVE.inc()
            return
        if name not in _ENDS or not isinstance(event.data, dict):
            return
        run: dict[str, Any] = event.data
        if times.started is not None:
            RUNS_ACTIVE.dec()
        if times.first_token is not None:
            RUN_FIRST_TOKEN.observe(times.first_token)
        model = run.get("model") or ""
        ended = run.get("completed_at") or run.get("failed_at") or run.get("cancelled_at")
        if ended and run.get("created_at"):
            RUN_DURATION.observe(max(0, ended - run["created_at"]))
        if name == EventName.RUN_REQUIRES_ACTION:
            return
        RUNS.labels(run.get("status") or "", model).inc()
        usage = run.get("usage") or {}
        for kind in ("prompt_tokens", "completion_tokens"):
            if usage.get(kind):
                TOKENS.labels(model, kind.removesuffix("_tokens")).inc(usage[kind])


def exposition() -> tuple[bytes, str]:
    """The metrics in the Prometheus text format, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
