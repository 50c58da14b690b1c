"""The `code_interpreter` tool as runs use it: code in, logs, images and files out.

The model sees a function `code_interpreter(code)`. Its code runs in the thread's session
(`sessions.py`) with the run's files under `/mnt/data`. What the code prints (and its last
expression) comes back as `logs`; matplotlib figures become PNG files (purpose
`assistants_output`) shown as `image` outputs; files it writes under `/mnt/data` become files
too, which the answer can link as `sandbox:/mnt/data/<name>`. Errors, timeouts and a dead
session come back to the model as output, so that it can try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from threadline.db.engine import Database
from threadline.files import service as files
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.tools.code_interpreter.sandbox import UNAVAILABLE, SandboxUnavailable, bwrap_path
from threadline.tools.code_interpreter.sessions import SessionLost, Sessions

log = logging.getLogger("threadline.code_interpreter")

NAME = "code_interpreter"
OUTPUT_PURPOSE = "assistants_output"
MODEL_LOG_CHARS = 4000
SANDBOX_LINK = re.compile(r"(?:sandbox:)?/mnt/data/([\w.\-/ ]+[\w\-])")

CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Run Python code in a stateful Jupyter-like session. The user's files are in "
            "/mnt/data. Print what you need to see; the value of the last line is shown. "
            "Figures made with matplotlib are returned as images; files written to /mnt/data "
            "can be linked as sandbox:/mnt/data/<name>. numpy, pandas and matplotlib are "
            "installed; there is no internet access."
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


def code_of(arguments: str) -> str:
    import json

    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    if isinstance(value, dict):
        return str(value.get("code") or value.get("input") or "")
    return str(value)


def model_text(logs: str, images: list[str], files: dict[str, str]) -> str:
    """What the model reads of an execution."""
    parts = []
    if logs:
        trimmed = logs if len(logs) <= MODEL_LOG_CHARS else "...\n" + logs[-MODEL_LOG_CHARS:]
        parts.append(trimmed.rstrip())
    parts += [f"[a figure was returned as an image ({file_id})]" for file_id in images]
    parts += [f"[wrote sandbox:/mnt/data/{name}]" for name in files]
    return "\n".join(parts) or "(no output)"


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

    async def _inputs(self, project_id: str, file_ids: list[str]) -> list[tuple[str, str, bytes]]:
        """(file id, name under /mnt/data, bytes) of the run's files."""
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    select(File).where(File.id.in_(file_ids), File.project_id == project_id)
                )
            )
        found = []
        for row in rows:
            path = self.storage.path(row.id)
            if path.exists():
                name = row.filename.replace("\\", "/").rsplit("/", 1)[-1] or row.id
                found.append((row.id, name, await asyncio.to_thread(path.read_bytes)))
        return found

    async def run(
        self, project_id: str, thread_id: str, file_ids: list[str], code: str, call_id: str
    ) -> Outcome:
        if not self.available:
            return Outcome([{"type": "logs", "logs": UNAVAILABLE}], UNAVAILABLE)
        try:
            session = await self.sessions.get(thread_id)
        except (SandboxUnavailable, SessionLost, OSError) as error:
            message = f"The code sandbox could not start: {error}"
            return Outcome([{"type": "logs", "logs": message}], message)
        async with session.lock:
            try:
                for file_id, name, data in await self._inputs(project_id, file_ids):
                    if file_id not in session.files:
                        await session.put(name, data)
                        session.files.add(file_id)
                result = await session.run(code, self.sessions.limits)
            except TimeoutError:
                await self.sessions.discard(thread_id)
                seconds = self.sessions.limits.wall_seconds
                message = (
                    f"Execution timed out after {seconds:g} seconds and was stopped; the "
                    "session was restarted, so earlier variables are gone."
                )
                return Outcome([{"type": "logs", "logs": message}], message)
            except SessionLost:
                await self.sessions.discard(thread_id)
                message = (
                    "The Python session ended (a resource limit was reached or the code "
                    "stopped it); it was restarted, so earlier variables are gone."
                )
                return Outcome([{"type": "logs", "logs": message}], message)
            except asyncio.CancelledError:
                # The run was cancelled mid-execution: the code must not go on running.
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.sessions.discard(thread_id))
                raise
        return await self._keep(project_id, call_id, result)

    async def _keep(self, project_id: str, call_id: str, result: Any) -> Outcome:
        outcome = Outcome()
        logs = result.logs
        if logs:
            outcome.outputs.append({"type": "logs", "logs": logs})
        for index, png in enumerate(result.images):
            row = await files.create(
                self.db,
                self.storage,
                project_id,
                io.BytesIO(png),
                f"{call_id}-figure-{index}.png",
                OUTPUT_PURPOSE,
                None,
            )
            outcome.images.append(row.id)
            outcome.outputs.append({"type": "image", "image": {"file_id": row.id}})
        for name, data in result.files:
            if data is None:
                logs += f"\n[{name} is too large to return]"
                continue
            row = await files.create(
                self.db, self.storage, project_id, io.BytesIO(data), name, OUTPUT_PURPOSE, None
            )
            outcome.files[name] = row.id
        outcome.text = model_text(logs, outcome.images, outcome.files)
        return outcome
