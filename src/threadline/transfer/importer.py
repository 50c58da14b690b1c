"""Import a folder of the API's own objects into a project (`threadline import`).

The folder is read and checked by `transfer.folder`; this writes it. Missing optional keys
take the API's defaults, and references to what the folder does not bring are dropped.

Ids are kept. Every id is checked against the target before anything is written: one that
exists already refuses the whole import (`Clash`). Vector store files are not copied with
their chunks (the wire shape has no embeddings, and the target's embedder may differ):
they are recorded `in_progress`, and the target's ingestion worker takes them up as it
does any file added to a store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.assistants.models import Assistant
from threadline.db.engine import Database, after_commit
from threadline.files import service as files_service
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.projects.models import Project
from threadline.run_status import ACTIVE_STATUSES
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message, Thread
from threadline.transfer.export import KINDS
from threadline.transfer.folder import BadFolder, Plan, plan, read
from threadline.vector_stores import service as stores_service
from threadline.vector_stores.ingestion.worker import wake
from threadline.vector_stores.models import VectorStore, VectorStoreFile
from threadline.vector_stores.schemas import chunking_to_wire

BATCH = 500
SHOWN = 10  # clashes and skips named in a message; the rest are counted
# Kinds whose ids are primary keys on their own; a vector store file's key is its store's
# and its file's ids, both checked already.
MODELS: dict[str, Any] = {
    "files": File,
    "vector_stores": VectorStore,
    "assistants": Assistant,
    "threads": Thread,
    "messages": Message,
    "runs": Run,
    "run_steps": RunStep,
}
# A run the source had not finished would be taken up by the target's engine and run
# again (calling a model, perhaps with different tools): it arrives as cancelled instead.
# A run waiting for tool outputs is left waiting: nothing runs until a client answers.
RESTARTABLE = frozenset(ACTIVE_STATUSES) - {"requires_action"}


class Clash(Exception):
    """Ids of the folder exist in the target already: nothing was written."""

    def __init__(self, clashes: list[str], total: int) -> None:
        self.clashes = clashes
        self.total = total
        more = f" and {total - len(clashes)} more" if total > len(clashes) else ""
        super().__init__(
            f"{total} object(s) of the folder already exist in the target: "
            f"{', '.join(clashes)}{more}. Nothing was imported. (Ids are kept on import, "
            "so a folder imports once into a deployment.)"
        )


@dataclass
class Imported:
    project: str
    project_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def clashes(session: AsyncSession, wanted: Plan) -> tuple[list[str], int]:
    """The first ids (up to SHOWN) that exist in the target already, and how many do."""
    shown: list[str] = []
    total = 0
    for kind, model in MODELS.items():
        pending = sorted(wanted.ids.get(kind, ()))
        for start in range(0, len(pending), BATCH):
            chunk = pending[start : start + BATCH]
            found = sorted(await session.scalars(select(model.id).where(model.id.in_(chunk))))
            total += len(found)
            shown += found[: SHOWN - len(shown)]
    return shown, total


# -- wire objects to rows ----------------------------------------------------------------------


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _created(obj: dict[str, Any]) -> int:
    # Every object the API lists has `created_at`; the id's own stamp (Threadline ids
    # carry one) or now stands in for a hand-made line without it.
    return _number(obj.get("created_at")) or ids.created_at_of(obj["id"]) or int(time.time())


class Rows:
    """Turns wire objects into rows, dropping references to what the import does not bring."""

    def __init__(self, wanted: Plan, result: Imported) -> None:
        self.wanted = wanted
        self.result = result
        self.dropped_refs = 0

    def _resources(self, obj: dict[str, Any]) -> dict[str, Any]:
        given = obj.get("tool_resources") or {}
        stored: dict[str, Any] = {}
        for section, key, kind in (
            ("code_interpreter", "file_ids", "files"),
            ("file_search", "vector_store_ids", "vector_stores"),
        ):
            if isinstance(given.get(section), dict):
                refs = given[section].get(key) or []
                kept = [ref for ref in refs if self.wanted.has(kind, ref)]
                self.dropped_refs += len(refs) - len(kept)
                stored[section] = {key: kept}
        return stored

    def files(self, obj: dict[str, Any], size: int) -> dict[str, Any]:
        return {
            "id": obj["id"],
            "created_at": _created(obj),
            "filename": obj.get("filename") or obj["id"],
            "bytes": size,
            "purpose": obj.get("purpose") or "assistants",
            "status": obj.get("status") or "processed",
            "status_details": obj.get("status_details"),
            "expires_at": _number(obj.get("expires_at")),
        }

    def vector_stores(self, obj: dict[str, Any], project_id: str) -> dict[str, Any]:
        created = _created(obj)
        return {
            "id": obj["id"],
            "project_id": project_id,
            "created_at": created,
            "name": obj.get("name") or "",
            "description": obj.get("description"),
            "expires_after": obj.get("expires_after"),
            "expires_at": _number(obj.get("expires_at")),
            "last_active_at": _number(obj.get("last_active_at")) or created,
            "metadata_": _metadata(obj),
        }

    def vector_store_files(self, obj: dict[str, Any]) -> dict[str, Any]:
        strategy = obj.get("chunking_strategy")
        if not (isinstance(strategy, dict) and isinstance(strategy.get("static"), dict)):
            # The hosted API reports files chunked before strategies existed as `other`.
            strategy = chunking_to_wire(None)
        cancelled = obj.get("status") == "cancelled"
        return {
            "vector_store_id": obj["vector_store_id"],
            "id": obj["id"],
            "created_at": _created(obj),
            # Ingested again by the target (its embedder), as any file added to a store.
            "status": "cancelled" if cancelled else "in_progress",
            "last_error": obj.get("last_error") if cancelled else None,
            "usage_bytes": 0,
            "chunking_strategy": {"type": "static", "static": strategy["static"]},
            "attributes": obj.get("attributes"),
            "batch_id": None,
        }

    def assistants(self, obj: dict[str, Any], project_id: str) -> dict[str, Any]:
        return {
            "id": obj["id"],
            "project_id": project_id,
            "created_at": _created(obj),
            "model": obj.get("model") or "",
            "name": obj.get("name"),
            "description": obj.get("description"),
            "instructions": obj.get("instructions"),
            "tools": obj.get("tools") or [],
            "tool_resources": self._resources(obj),
            "metadata_": _metadata(obj),
            "temperature": obj.get("temperature"),
            "top_p": obj.get("top_p"),
            "response_format": obj.get("response_format") or "auto",
            "reasoning_effort": obj.get("reasoning_effort"),
        }

    def threads(self, obj: dict[str, Any], project_id: str) -> dict[str, Any]:
        return {
            "id": obj["id"],
            "project_id": project_id,
            "created_at": _created(obj),
            "tool_resources": self._resources(obj),
            "metadata_": _metadata(obj),
            "hidden": False,
        }

    def messages(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": obj["id"],
            "thread_id": obj["thread_id"],
            "created_at": _created(obj),
            "role": obj["role"],
            "content": obj.get("content") or [],
            "attachments": obj.get("attachments") or [],
            "assistant_id": obj.get("assistant_id"),
            "run_id": obj.get("run_id"),
            "status": obj.get("status") or "completed",
            "incomplete_details": obj.get("incomplete_details"),
            "completed_at": _number(obj.get("completed_at")),
            "incomplete_at": _number(obj.get("incomplete_at")),
            "metadata_": _metadata(obj),
        }

    def runs(self, obj: dict[str, Any]) -> dict[str, Any]:
        status = obj.get("status") or "completed"
        cancelled_at = _number(obj.get("cancelled_at"))
        if status in RESTARTABLE:
            self.result.notes.append(f"run {obj['id']} was {status}: imported as cancelled")
            status, cancelled_at = "cancelled", cancelled_at or int(time.time())
        return {
            "id": obj["id"],
            "thread_id": obj["thread_id"],
            "assistant_id": obj.get("assistant_id") or "",
            "created_at": _created(obj),
            "status": status,
            "required_action": obj.get("required_action") if status == "requires_action" else None,
            "last_error": obj.get("last_error"),
            "expires_at": _number(obj.get("expires_at")),
            "started_at": _number(obj.get("started_at")),
            "cancelled_at": cancelled_at,
            "failed_at": _number(obj.get("failed_at")),
            "completed_at": _number(obj.get("completed_at")),
            "incomplete_details": obj.get("incomplete_details"),
            "model": obj.get("model") or "",
            "instructions": obj.get("instructions") or "",
            "tools": obj.get("tools") or [],
            "metadata_": _metadata(obj),
            "usage": obj.get("usage"),
            "temperature": obj.get("temperature"),
            "top_p": obj.get("top_p"),
            "max_prompt_tokens": _number(obj.get("max_prompt_tokens")),
            "max_completion_tokens": _number(obj.get("max_completion_tokens")),
            "truncation_strategy": obj.get("truncation_strategy"),
            "tool_choice": obj.get("tool_choice"),
            "parallel_tool_calls": obj.get("parallel_tool_calls") is not False,
            "response_format": obj.get("response_format") or "auto",
            "reasoning_effort": obj.get("reasoning_effort"),
            "api_key_id": None,
            "kind": "run",
        }

    def run_steps(self, obj: dict[str, Any]) -> dict[str, Any]:
        details = obj.get("step_details") or {"type": "message_creation"}
        return {
            "id": obj["id"],
            "run_id": obj["run_id"],
            "thread_id": obj.get("thread_id") or "",
            "assistant_id": obj.get("assistant_id") or "",
            "created_at": _created(obj),
            "type": obj.get("type") or details.get("type") or "message_creation",
            "status": obj.get("status") or "completed",
            # As exported, with file search results' content: the stored form.
            "step_details": details,
            "last_error": obj.get("last_error"),
            "expired_at": _number(obj.get("expired_at")),
            "cancelled_at": _number(obj.get("cancelled_at")),
            "failed_at": _number(obj.get("failed_at")),
            "completed_at": _number(obj.get("completed_at")),
            "metadata_": _metadata(obj),
            "usage": obj.get("usage"),
            "inputs": None,
        }


# -- the import --------------------------------------------------------------------------------


async def import_folder(db: Database, storage: FileStorage, folder: Path, project: str) -> Imported:
    """Load `folder` into `project` (created if new). Raises `BadFolder` or `Clash`, in
    which case nothing was written."""
    if not folder.is_dir():
        raise BadFolder(f"{folder} is not a folder")
    wanted = plan(folder)
    if not any(wanted.ids.values()):
        raise BadFolder(f"{folder} holds no objects to import (no *.jsonl with objects)")
    if wanted.duplicates:
        raise BadFolder(f"ids appear twice in the folder: {', '.join(wanted.duplicates[:SHOWN])}")
    result = Imported(project, skipped=wanted.skipped)
    rows = Rows(wanted, result)
    saved: list[str] = []
    try:
        async with db.write() as session:
            shown, total = await clashes(session, wanted)
            if total:
                raise Clash(shown, total)
            result.project_id = await _project(session, project)
            await _check_quotas(session, wanted, result.project_id)
            await _load(session, storage, wanted, rows, result, saved)
            after_commit(session, wake)
    except BaseException:
        for file_id in saved:  # the rows went with the rollback; their bytes go too
            storage.delete(file_id)
        raise
    if rows.dropped_refs:
        result.notes.append(
            f"{rows.dropped_refs} tool resource reference(s) to files or vector stores not "
            "in the folder were left out"
        )
    return result


async def _check_quotas(session: AsyncSession, wanted: Plan, project_id: str) -> None:
    """The target project's storage quotas hold for the import as for the API: QuotaExceeded
    before anything is written."""
    sizes = sum(
        (wanted.folder / "files" / file_id).stat().st_size
        for file_id in wanted.ids.get("files", ())
    )
    await files_service.check_quota(session, project_id, sizes, param="files")
    await stores_service.check_quota(session, project_id, len(wanted.ids.get("vector_stores", ())))


async def _project(session: AsyncSession, name: str) -> str:
    found = await session.scalar(select(Project.id).where(Project.name == name))
    if found:
        return found
    project_id, created_at = ids.mint(ids.PROJECT)
    session.add(Project(id=project_id, name=name, created_at=created_at))
    await session.flush()
    return project_id


async def _load(
    session: AsyncSession,
    storage: FileStorage,
    wanted: Plan,
    rows: Rows,
    result: Imported,
    saved: list[str],
) -> None:
    """Insert every kind, each after those it refers to, a batch at a time."""
    folder = wanted.folder
    project_id = result.project_id

    async def flush(model: Any, batch: list[dict[str, Any]]) -> None:
        if batch:
            await session.execute(insert(model), batch)
            batch.clear()

    for kind in KINDS:
        model = VectorStoreFile if kind == "vector_store_files" else MODELS[kind]
        batch: list[dict[str, Any]] = []
        count = 0
        for obj in read(folder, kind):
            if kind == "vector_store_files":
                if (obj.get("vector_store_id"), obj["id"]) not in wanted.store_files:
                    continue
                row = rows.vector_store_files(obj)
            elif not wanted.has(kind, obj["id"]):
                continue
            elif kind == "files":
                with (folder / "files" / obj["id"]).open("rb") as source:
                    size = storage.save(obj["id"], source)
                saved.append(obj["id"])
                row = {**rows.files(obj, size), "project_id": project_id}
            elif kind in ("vector_stores", "assistants", "threads"):
                row = getattr(rows, kind)(obj, project_id)
            else:
                row = getattr(rows, kind)(obj)
            batch.append(row)
            count += 1
            if len(batch) >= BATCH:
                await flush(model, batch)
        await flush(model, batch)
        result.counts[kind] = count
