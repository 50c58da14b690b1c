"""The `code_interpreter` interpreter: code in, logs, images and files out.

The model sees a function `code_interpreter(code)`. Its code runs in a container's session
(`sessions.py`; a run's in its thread's container, `container.py`) with the run's files
under `/mnt/data`. What the code prints (and its last
expression) comes back as `logs`; matplotlib figures become PNG files (purpose
`assistants_output`) shown as `image` outputs; files it writes under `/mnt/data` become files
too, which the answer can link as `sandbox:/mnt/data/<name>`. Errors, timeouts, a dead
session, a session stopped for its memory or an unreadable reply come back to the model as
output (the step completes), so that it can try again; the session is then replaced.

Files given to the tool enter the sandbox under names made safe by `sandbox_name`; what one
execution returns is capped (`Limits.output_bytes`), and the model is told what was not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from threadline.containers.paths import safe_name
from threadline.db.engine import Database
from threadline.errors import QuotaExceeded
from threadline.files import service as files
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.tools.code_interpreter.sandbox import (
    UNAVAILABLE,
    MiB,
    SandboxUnavailable,
    bwrap_path,
)
from threadline.tools.code_interpreter.sessions import Result, Session, SessionLost, Sessions

if TYPE_CHECKING:
    pass

log = logging.getLogger("threadline.code_interpreter")

NAME = "code_interpreter"
OUTPUT_PURPOSE = "assistants_output"
MODEL_LOG_CHARS = 4000
SANDBOX_LINK = re.compile(r"(?:sandbox:)?/mnt/data/([\w.\-/ ]+[\w\-])")
# Where the code's text starts in the arguments the model writes: `{"code": "`.
_CODE_VALUE = re.compile(r'\s*\{\s*"code"\s*:\s*"')

# The sandbox runs this environment's Python: what it has installed is what code can use
# (pandas and matplotlib come with the `code` extra).
_LIBRARIES = [name for name in ("numpy", "pandas", "matplotlib") if find_spec(name) is not None]
_INSTALLED = (
    f"{', '.join(_LIBRARIES[:-1])} and {_LIBRARIES[-1]} are installed; "
    if len(_LIBRARIES) > 1
    else "".join(f"{name} is installed; " for name in _LIBRARIES)
)
CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Run Python code in a stateful Jupyter-like session. The user's files are in "
            "/mnt/data. Print what you need to see; the value of the last line is shown. "
            "Figures made with matplotlib are returned as images; files written to /mnt/data "
            "can be linked as sandbox:/mnt/data/<name>. "
            + _INSTALLED
            + "there is no internet access."
        ),
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The Python code to run."}},
            "required": ["code"],
        },
    },
}


@dataclass
class Outcome:
    """One execution: the step's `outputs`, what the model reads, and the files made."""

    outputs: list[dict[str, Any]] = field(default_factory=list)
    text: str = ""
    images: list[str] = field(default_factory=list)  # file ids
    files: dict[str, str] = field(default_factory=dict)  # /mnt/data name -> file id
    figures: dict[str, bytes] = field(default_factory=dict)  # file id -> PNG


# Keeps a file the code wrote (its name, its bytes); the id it is kept under.
FileStore = Callable[[str, bytes], Awaitable[str]]


def code_of(arguments: str) -> str:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    if isinstance(value, dict):
        return str(value.get("code") or value.get("input") or "")
    return str(value)


def model_text(
    logs: str, images: list[str], files: dict[str, str], notes: list[str] | None = None
) -> str:
    """What the model reads of an execution."""
    parts = list(notes or [])
    if logs:
        trimmed = logs if len(logs) <= MODEL_LOG_CHARS else "...\n" + logs[-MODEL_LOG_CHARS:]
        parts.append(trimmed.rstrip())
    parts += [f"[a figure was returned as an image ({file_id})]" for file_id in images]
    parts += [f"[wrote sandbox:/mnt/data/{name}]" for name in files]
    return "\n".join(parts) or "(no output)"


# The name a file gets in /mnt/data (one rule for runs' files and containers').
sandbox_name = safe_name


def shown(filename: str) -> str:
    """A filename as notes to the model quote it."""
    return repr(filename if len(filename) <= 80 else filename[:77] + "...")


def file_links(text: str, produced: dict[str, str]) -> list[dict[str, Any]]:
    """`file_path` annotations for the answer's links to files the code wrote."""
    annotations = []
    for match in SANDBOX_LINK.finditer(text):
        file_id = produced.get(match.group(1))
        if file_id is not None:
            annotations.append(
                {
                    "type": "file_path",
                    "text": match.group(0),
                    "start_index": match.start(),
                    "end_index": match.end(),
                    "file_path": {"file_id": file_id},
                }
            )
    return annotations


class CodeInterpreter:
    def __init__(self, db: Database, storage: FileStorage, sessions: Sessions) -> None:
        self.db = db
        self.storage = storage
        self.sessions = sessions

    @property
    def available(self) -> bool:
        return bwrap_path() is not None

    async def _put_inputs(
        self, project_id: str, file_ids: list[str], session: Session
    ) -> list[str]:
        """Put the run's files that the session lacks in /mnt/data; notes for the model
        (a file renamed, or one that could not be put)."""
        missing = [file_id for file_id in file_ids if file_id not in session.files]
        if not missing:
            return []
        async with self.db.read() as db:
            rows = list(
                await db.scalars(
                    select(File).where(File.id.in_(missing), File.project_id == project_id)
                )
            )
        notes = []
        room = self.sessions.limits.disk_bytes
        for row in sorted(rows, key=lambda row: missing.index(row.id)):
            path = self.storage.path(row.id)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            name = sandbox_name(row.filename, row.id, set(session.files.values()))
            if size > room:
                notes.append(
                    f"[{row.id} ({shown(row.filename)}) is not in /mnt/data: its "
                    f"{size / MiB:.1f} MiB do not fit in the {room // MiB} MiB there]"
                )
                continue
            problem = await session.put(name, await asyncio.to_thread(path.read_bytes))
            if problem is not None:
                notes.append(
                    f"[{row.id} ({shown(row.filename)}) could not be put in /mnt/data: {problem}]"
                )
                continue
            session.files[row.id] = name
            if name != row.filename:
                notes.append(f"[{row.id} ({shown(row.filename)}) is /mnt/data/{name}]")
        return notes

    async def execute(
        self,
        key: str,
        code: str,
        inputs: Callable[[Session], Awaitable[list[str]]],
        keep: Callable[[Result, list[str]], Awaitable[Outcome]],
        lost: str,
    ) -> Outcome:
        """Code in the session of `key` (a container), once `inputs` has put what
        the session lacks (notes for the model); `keep` stores what it made. `lost` says
        what a restarted session no longer has."""
        if not self.available:
            return Outcome([{"type": "logs", "logs": UNAVAILABLE}], UNAVAILABLE)
        try:
            session = await self.sessions.get(key)
        except (SandboxUnavailable, SessionLost, OSError) as error:
            message = f"The code sandbox could not start: {error}"
            return Outcome([{"type": "logs", "logs": message}], message)
        async with session.lock:
            try:
                notes = await inputs(session)
                result = await session.run(code, self.sessions.limits)
            except TimeoutError:
                await self.sessions.discard(key)
                seconds = self.sessions.limits.wall_seconds
                message = (
                    f"Execution timed out after {seconds:g} seconds and was stopped; the "
                    "session was restarted, so earlier variables are gone."
                )
                return Outcome([{"type": "logs", "logs": message}], message)
            except SessionLost as why:
                await self.sessions.discard(key)
                message = (
                    f"{why} It was restarted, so {lost} are gone; the next execution starts afresh."
                )
                return Outcome([{"type": "logs", "logs": message}], message)
            except asyncio.CancelledError:
                # The run was cancelled mid-execution: the code must not go on running.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.sessions.discard(key))
                raise
        return await keep(result, notes)

    async def _keep(
        self,
        project_id: str,
        call_id: str,
        result: Any,
        notes: list[str] | None = None,
        store: FileStore | None = None,
    ) -> Outcome:
        """Store the execution's figures and files, no more than `output_bytes` in all (the
        session checked too, but what it says is not trusted). Figures become files;
        written files too, or what `store` makes of them (a container's files)."""
        outcome = Outcome()
        notes = list(notes or [])
        limits = self.sessions.limits
        left = limits.output_bytes
        cap = f"{limits.output_bytes / MiB:g} MiB"
        logs = result.logs
        if logs:
            outcome.outputs.append({"type": "logs", "logs": logs})
        for index, png in enumerate(result.images):
            if len(png) > left:
                notes.append(
                    f"[figure {index + 1} ({len(png) / MiB:.1f} MiB) was not returned: the "
                    f"figures and files of one execution may total {cap}]"
                )
                continue
            name = f"{call_id}-figure-{index}.png"
            try:
                file_id = await self._new_file(project_id, name, png)
            except QuotaExceeded as error:  # the project's storage quota is reached
                notes.append(f"[figure {index + 1} was not kept: {error.message}]")
                continue
            left -= len(png)
            outcome.images.append(file_id)
            outcome.figures[file_id] = png
            outcome.outputs.append({"type": "image", "image": {"file_id": file_id}})
        for name, data, reason in result.files:
            if data is not None and len(data) > limits.output_file_bytes:
                data, reason = None, "file"
            elif data is not None and len(data) > left:
                data, reason = None, "budget"
            if data is None and reason == "file":
                logs += (
                    f"\n[sandbox:/mnt/data/{name} is too large to return (over "
                    f"{limits.output_file_bytes / MiB:g} MiB); it stays in /mnt/data]"
                )
                continue
            if data is None:
                logs += (
                    f"\n[sandbox:/mnt/data/{name} was not returned: the figures and files of "
                    f"one execution may total {cap}; it stays in /mnt/data]"
                )
                continue
            try:
                if store is not None:
                    file_id = await store(name, data)
                else:
                    file_id = await self._new_file(project_id, name, data)
            except QuotaExceeded as error:  # the project's storage quota is reached
                logs += f"\n[sandbox:/mnt/data/{name} was not kept: {error.message}]"
                continue
            left -= len(data)
            outcome.files[name] = file_id
        if result.omitted:
            logs += f"\n[{result.omitted} more files were written but not returned]"
        outcome.text = model_text(logs, outcome.images, outcome.files, notes)
        return outcome

    async def _new_file(self, project_id: str, name: str, data: bytes) -> str:
        row = await files.create(
            self.db, self.storage, project_id, io.BytesIO(data), name, OUTPUT_PURPOSE, None
        )
        return row.id
