"""Export one project as JSON Lines of the API's own objects (`threadline export`).

Each object is written exactly as the API returns it, through the same wire models the
routers answer with, so that the folder is also what any script listing a deployment
through the API would write (and `transfer.folder` reads either). Rows are read in
pages, keyset on (created_at, id), so a large project is never held in memory at once.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, tuple_

import threadline
from threadline.assistants.models import Assistant
from threadline.assistants.schemas import AssistantObject
from threadline.db.engine import Database
from threadline.files.models import File
from threadline.files.schemas import FileObject
from threadline.files.storage import FileStorage
from threadline.projects.models import Project
from threadline.runs.models import Run, RunStep
from threadline.runs.schemas import (
    FILE_SEARCH_CONTENT,
    RunObject,
    RunStepObject,
    step_details_to_wire,
)
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import ASSISTANTS_ROLES, MessageObject, ThreadObject
from threadline.vector_stores.derived import describe_file, describe_stores
from threadline.vector_stores.models import VectorStore, VectorStoreFile

FORMAT = "threadline-export"
FORMAT_VERSION = 1
PAGE = 500
# The files of a folder, in the order an import loads them (each after what it refers to).
KINDS = (
    "files",
    "vector_stores",
    "vector_store_files",
    "assistants",
    "threads",
    "messages",
    "runs",
    "run_steps",
)
# Run steps are written with file search results' content, as `include[]` asks the API.
STEP_INCLUDE = frozenset({FILE_SEARCH_CONTENT})


class UnknownProject(Exception):
    pass


@dataclass
class Exported:
    counts: dict[str, int] = field(default_factory=dict)
    # Files whose bytes were missing from the files directory: listed, not written.
    missing_bytes: list[str] = field(default_factory=list)


def wire(model: type[Any], row: Any) -> dict[str, Any]:
    """The JSON the API answers with for `row` as `model` (FastAPI's response_model)."""
    obj = row if isinstance(row, model) else model.model_validate(row)
    return obj.model_dump(mode="json", by_alias=True)


def step_wire(row: RunStep) -> dict[str, Any]:
    step = RunStepObject.model_validate(row)
    step.step_details = step_details_to_wire(row.step_details, STEP_INCLUDE, row.inputs or {})
    return wire(RunStepObject, step)


async def pages(
    db: Database,
    model: type[Any],
    where: Sequence[ColumnElement[bool]],
    extra_key: Sequence[Any] = (),
    page: int = PAGE,
) -> AsyncIterator[list[Any]]:
    """`model` rows matching `where` by (created_at, id, *extra_key), a page at a time,
    each page read in a transaction of its own (a long export holds no snapshot open)."""
    columns = [model.created_at, model.id, *extra_key]
    last: tuple[Any, ...] | None = None
    while True:
        conditions = list(where)
        if last is not None:
            conditions.append(tuple_(*columns) > tuple_(*last))
        statement = select(model).where(*conditions).order_by(*columns).limit(page)
        async with db.read() as session:
            rows = list((await session.scalars(statement)).all())
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        tail = rows[-1]
        last = tuple(getattr(tail, column.key) for column in columns)


async def project_id_of(db: Database, name: str) -> str:
    async with db.read() as session:
        found = await session.scalar(select(Project.id).where(Project.name == name))
    if found is None:
        raise UnknownProject(f"no project called {name!r}")
    return found


async def export_project(
    db: Database, storage: FileStorage, name: str, out: Path, source: str = ""
) -> Exported:
    """Write project `name`'s objects under `out` (created; files in it are replaced)."""
    project_id = await project_id_of(db, name)
    out.mkdir(parents=True, exist_ok=True)
    (out / "files").mkdir(exist_ok=True)
    result = Exported()
    now = int(time.time())

    # The scopes mirror what the API lists: threads made to hold responses (hidden) and
    # the Responses API's runs belong to that API, and a conversation's system and
    # developer messages are not thread messages; expired files are gone.
    threads = select(Thread.id).where(Thread.project_id == project_id, Thread.hidden.is_(False))
    runs = select(Run.id).where(Run.thread_id.in_(threads), Run.kind == "run")
    stores = select(VectorStore.id).where(VectorStore.project_id == project_id)
    live = or_(File.expires_at.is_(None), File.expires_at > now)

    async def write(
        kind: str,
        model: type[Any],
        where: Sequence[ColumnElement[bool]],
        to_wire: Callable[[Any], dict[str, Any]] | None = None,
        extra_key: Sequence[Any] = (),
        after_page: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        count = 0
        with (out / f"{kind}.jsonl").open("w", encoding="utf-8") as lines:
            async for rows in pages(db, model, where, extra_key):
                objects = await after_page(rows) if after_page else [to_wire(r) for r in rows]  # type: ignore[misc]
                for obj in objects:
                    lines.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
                    lines.write("\n")
                count += len(objects)
        result.counts[kind] = count

    def file_wire(row: File) -> dict[str, Any]:
        source_path = storage.path(row.id)
        if source_path.is_file():
            shutil.copyfile(source_path, out / "files" / row.id)
        else:
            result.missing_bytes.append(row.id)
        return wire(FileObject, row)

    async def store_page(rows: list[VectorStore]) -> list[dict[str, Any]]:
        # A store's counts, usage and status are derived from its files when read.
        async with db.read() as session:
            return [wire(type(obj), obj) for obj in await describe_stores(session, rows)]

    async def store_file_page(rows: list[VectorStoreFile]) -> list[dict[str, Any]]:
        return [wire(type(obj), obj) for obj in (describe_file(row) for row in rows)]

    await write("files", File, [File.project_id == project_id, live], file_wire)
    await write(
        "vector_stores", VectorStore, [VectorStore.project_id == project_id], after_page=store_page
    )
    # A file may be in several stores under the same id: the store breaks the tie.
    await write(
        "vector_store_files",
        VectorStoreFile,
        [VectorStoreFile.vector_store_id.in_(stores)],
        extra_key=[VectorStoreFile.vector_store_id],
        after_page=store_file_page,
    )
    await write(
        "assistants",
        Assistant,
        [Assistant.project_id == project_id],
        lambda row: wire(AssistantObject, row),
    )
    await write("threads", Thread, [Thread.id.in_(threads)], lambda row: wire(ThreadObject, row))
    await write(
        "messages",
        Message,
        [Message.thread_id.in_(threads), Message.role.in_(ASSISTANTS_ROLES)],
        lambda row: wire(MessageObject, row),
    )
    await write("runs", Run, [Run.id.in_(runs)], lambda row: wire(RunObject, row))
    await write("run_steps", RunStep, [RunStep.run_id.in_(runs)], step_wire)

    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": {
            "server": f"threadline {threadline.__version__}",
            "deployment": source,
            "project": name,
            "project_id": project_id,
        },
        "exported_at": now,
        "counts": result.counts,
        "files_without_bytes": result.missing_bytes,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return result
