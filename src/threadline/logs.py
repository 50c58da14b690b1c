"""Logging, configured once at start: Threadline's loggers and uvicorn's at one level, as
readable lines or as JSON lines (python-json-logger). Every record carries the id of the
request it belongs to (a context variable the request middleware sets; tasks a request
starts, such as its run, inherit it)."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Fields that a record may carry (`extra=`) and text lines show as key=value.
FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "project",
    "run_id",
    "thread_id",
    "assistant_id",
    "model",
    "backend",
    "run_status",
    "queued_ms",
    "first_token_ms",
    "run_ms",
    "total_ms",
    "prompt_tokens",
    "completion_tokens",
    "error_code",
)


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id.get()
        return True


class _Text(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [
            f"{name}={value}"
            for name in FIELDS
            if (value := getattr(record, name, None)) is not None and f"{name}=" not in line
        ]
        return f"{line} {' '.join(pairs)}" if pairs else line


# What the operator is told in a line of its own (start-up, a refusal to start).
_said = logging.getLogger("threadline.start")
_format: LogFormat = "text"


def configure(level: str, fmt: LogFormat) -> None:
    global _format
    _format = fmt
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestId())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(_Text("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    for name in ("threadline", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False
    # Threadline writes its own line per request (with its id and project).
    logging.getLogger("uvicorn.access").disabled = True
    # Start-up lines are said whatever the level, as the text mode prints them.
    _said.setLevel(logging.INFO)


def say(line: str, error: bool = False) -> None:
    """A line for the operator: printed as it is (`threadline: ...`; to stderr when it is an
    error), or, in JSON mode, a JSON record like every other line the server writes."""
    if _format == "json":
        _said.log(logging.ERROR if error else logging.INFO, line)
        return
    print(f"threadline: {line}", file=sys.stderr if error else sys.stdout, flush=True)
