"""An export folder, read and checked before anything is written (`threadline import`).

The folder is what `threadline export` writes, or what any script that listed a deployment
through the API wrote (the hosted API's included): one JSON object per line, as the API
returned it. So the reading is lenient: keys Threadline does not keep are ignored, and an
object whose parent is absent (a message of a thread that is not in the folder) is skipped
and reported rather than refused (`plan`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.threads.schemas import ASSISTANTS_ROLES


class BadFolder(Exception):
    """The folder cannot be read as an export (no objects, a line that is not JSON)."""


def read(folder: Path, kind: str) -> Iterator[dict[str, Any]]:
    """The objects of `folder/kind.jsonl`, one a line; none when the file is absent."""
    path = folder / f"{kind}.jsonl"
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise BadFolder(f"{path.name} line {number}: not JSON ({error.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                raise BadFolder(f"{path.name} line {number}: not an object with an id")
            yield obj


@dataclass
class Plan:
    """The ids each kind will bring, once objects whose parents are absent are set aside."""

    folder: Path
    ids: dict[str, set[str]] = field(default_factory=dict)
    store_files: set[tuple[str, str]] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def keep(self, kind: str, object_id: str) -> None:
        kept = self.ids.setdefault(kind, set())
        if object_id in kept:
            self.duplicates.append(object_id)
        kept.add(object_id)

    def has(self, kind: str, object_id: Any) -> bool:
        return object_id in self.ids.get(kind, ())


def plan(folder: Path) -> Plan:
    found = Plan(folder)
    for obj in read(folder, "files"):
        if (folder / "files" / obj["id"]).is_file():
            found.keep("files", obj["id"])
        else:
            found.skipped.append(f"file {obj['id']}: its bytes are not in files/{obj['id']}")
    for kind in ("vector_stores", "assistants", "threads"):
        for obj in read(folder, kind):
            found.keep(kind, obj["id"])
    for obj in read(folder, "vector_store_files"):
        store, file_id = obj.get("vector_store_id"), obj["id"]
        if not found.has("vector_stores", store):
            found.skipped.append(f"vector store file {file_id}: its store {store} is absent")
        elif not found.has("files", file_id):
            found.skipped.append(f"vector store file {file_id} of {store}: the file is absent")
        else:
            found.store_files.add((store, file_id))
    for obj in read(folder, "messages"):
        if obj.get("role") not in ASSISTANTS_ROLES:
            found.skipped.append(f"message {obj['id']}: role {obj.get('role')!r}")
        elif not found.has("threads", obj.get("thread_id")):
            found.skipped.append(
                f"message {obj['id']}: its thread {obj.get('thread_id')} is absent"
            )
        else:
            found.keep("messages", obj["id"])
    for obj in read(folder, "runs"):
        if not found.has("threads", obj.get("thread_id")):
            found.skipped.append(f"run {obj['id']}: its thread {obj.get('thread_id')} is absent")
        else:
            found.keep("runs", obj["id"])
    for obj in read(folder, "run_steps"):
        if not found.has("runs", obj.get("run_id")):
            found.skipped.append(f"run step {obj['id']}: its run {obj.get('run_id')} is absent")
        else:
            found.keep("run_steps", obj["id"])
    return found


def source_project(folder: Path) -> str | None:
    """The project named in the folder's manifest, if it has one."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = (manifest.get("source") or {}).get("project") if isinstance(manifest, dict) else None
    return name if isinstance(name, str) and name else None
