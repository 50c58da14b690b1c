"""Code in a container (the Containers API): a response's, or a run's in its thread's.

A container is a sandbox session (`sessions.py`, keyed by the container's id) with files
that outlive it: they are kept in the shared files store, so a session started on another
worker, or after the last one was reaped, gets them back in /mnt/data before the code runs.
Variables live only as long as the session. Files a response's code writes become the
container's files (source `assistant`); a run's become Files (`assistants_output`), as the
Assistants API has them, with the run's own files put in beside the container's. Figures
become Files either way, shown as images.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import posixpath
from typing import Any

from threadline.containers import files as container_files
from threadline.containers import service as containers
from threadline.errors import InvalidRequest, NotFound
from threadline.tools.code_interpreter.sessions import Result, Session
from threadline.tools.code_interpreter.tool import (
    SANDBOX_LINK,
    CodeInterpreter,
    Outcome,
    sandbox_name,
    shown,
)


def data_url(png: bytes) -> str:
    """A figure as the URL an image output carries: the image itself (`data:`), so that it
    needs no further request and no server address."""
    return "data:image/png;base64," + base64.b64encode(png).decode()


def citations(text: str, container_id: str, produced: dict[str, str]) -> list[dict[str, Any]]:
    """`container_file_citation` annotations for the answer's links to files the code
    wrote in the container."""
    found = []
    for match in SANDBOX_LINK.finditer(text):
        file_id = produced.get(match.group(1))
        if file_id is not None:
            found.append(
                {
                    "type": "container_file_citation",
                    "container_id": container_id,
                    "file_id": file_id,
                    "start_index": match.start(),
                    "end_index": match.end(),
                    "filename": match.group(1),
                }
            )
    return found


class ContainerCode:
    def __init__(self, interpreter: CodeInterpreter) -> None:
        self.interpreter = interpreter

    async def _check(self, project_id: str, container_id: str) -> str | None:
        """Why the container cannot run code now (gone, expired), for the model."""
        async with self.interpreter.db.read() as db:
            try:
                container = await containers.get_container(db, project_id, container_id)
                containers.require_running(container, "container")
            except (NotFound, InvalidRequest) as error:
                return f"The code could not run: {error.message}"
        return None

    async def _restore(self, container_id: str, session: Session) -> list[str]:
        """Put the container's files that the session lacks in /mnt/data."""
        async with self.interpreter.db.read() as db:
            rows = await containers.container_files(db, container_id)
        notes = []
        storage = self.interpreter.storage
        for row in rows:
            if row.id in session.files:
                continue
            wanted = posixpath.basename(row.path)
            name = sandbox_name(wanted, row.id, set(session.files.values()))
            try:
                data = await asyncio.to_thread(storage.path(row.id).read_bytes)
            except FileNotFoundError:
                continue  # deleted meanwhile
            problem = await session.put(name, data)
            if problem is not None:
                notes.append(f"[{row.path} could not be put in /mnt/data: {problem}]")
                continue
            session.files[row.id] = name
            if name != wanted:
                notes.append(f"[{row.id} ({shown(wanted)}) is /mnt/data/{name}]")
        return notes

    async def thread_container(self, project_id: str, thread_id: str) -> str:
        """The id of the thread's container, made (or made afresh) if need be."""
        async with self.interpreter.db.write() as db:
            container, gone = await containers.thread_container(db, project_id, thread_id)
        for file_id in gone:
            self.interpreter.storage.delete(file_id)
        return container.id

    async def run(
        self,
        project_id: str,
        container_id: str,
        code: str,
        call_id: str,
        run_files: list[str] | None = None,
    ) -> Outcome:
        """The code in the container; with `run_files` (a run's), those files are put in
        too and what the code writes becomes Files."""
        why = await self._check(project_id, container_id)
        if why is not None:
            return Outcome([{"type": "logs", "logs": why}], why)
        interpreter = self.interpreter
        used: list[Session] = []

        async def inputs(session: Session) -> list[str]:
            used.append(session)
            notes = await self._restore(container_id, session)
            if run_files is not None:
                notes += await interpreter._put_inputs(project_id, run_files, session)
            return notes

        async def store(name: str, data: bytes) -> str:
            async with interpreter.db.write() as db:
                row = await container_files.write_file(
                    db, interpreter.storage, project_id, container_id, name, data
                )
            for session in used:  # it is in /mnt/data already
                session.files[row.id] = name
            return row.id

        async def keep(result: Result, notes: list[str]) -> Outcome:
            if run_files is not None:
                return await interpreter._keep(project_id, call_id, result, notes)
            return await interpreter._keep(project_id, call_id, result, notes, store)

        lost = "earlier variables" if run_files is None else "earlier variables and files"
        outcome = await interpreter.execute(container_id, code, inputs, keep, lost)
        # Deleted while the code ran: nothing to touch.
        with contextlib.suppress(NotFound):
            async with interpreter.db.write() as db:
                container = await containers.get_container(db, project_id, container_id)
                await containers.touch(db, container)
        return outcome
