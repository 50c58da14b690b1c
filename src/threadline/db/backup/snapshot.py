"""`threadline backup DIR`: a consistent snapshot of a running deployment (the database,
then the file bytes), its manifest, and the record of the last backup."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline.config import Settings
from threadline.db.backup.contents import read_snapshot
from threadline.db.backup.errors import Refused
from threadline.db.backup.files import FILES, copy_files
from threadline.db.backup.last_backup import LAST_BACKUP
from threadline.db.backup.manifest import FORMAT, MANIFEST, threadline_version, write_json
from threadline.db.backup.postgres import POSTGRES_FILE, postgres_snapshot
from threadline.db.backup.sqlite import (
    SQLITE_FILE,
    is_sqlite,
    sqlite_path,
    sqlite_snapshot,
    sqlite_url,
)


async def backup(settings: Settings, directory: Path) -> dict[str, Any]:
    """Snapshot the database, then copy the files; the manifest it wrote."""
    if directory.exists() and any(directory.iterdir()):
        raise Refused(f"{directory} is not empty: give each backup a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    started = datetime.now(UTC)
    if is_sqlite(url):
        kind, database_file = "sqlite", SQLITE_FILE
        await asyncio.to_thread(sqlite_snapshot, sqlite_path(url), directory / SQLITE_FILE)
        revision, tables, file_ids = await read_snapshot(sqlite_url(directory / SQLITE_FILE))
    else:
        kind, database_file = "postgresql", POSTGRES_FILE
        revision, tables, file_ids = await postgres_snapshot(url, directory / POSTGRES_FILE)
    # The files are copied after the database snapshot, and that is what makes the pair
    # consistent: a file's bytes are written before its row commits and never change under
    # its id afterwards, so every file row in the snapshot already has its bytes on disk.
    # Files uploaded since come along too, rowless and harmless. The one gap is a file
    # deleted between the snapshot and the copy: its row is in the snapshot, its bytes are
    # gone; the manifest lists those (`missing_files`) and the command says so.
    count, size = await asyncio.to_thread(
        copy_files, settings.resolved_files_dir, directory / FILES
    )
    missing = sorted(i for i in file_ids if not (directory / FILES / i).is_file())
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "threadline_version": threadline_version(),
        "schema_revision": revision,
        "created_at": started.isoformat(timespec="seconds"),
        "database": kind,
        "database_file": database_file,
        "tables": tables,
        "files": {"count": count, "bytes": size},
        "missing_files": missing,
    }
    write_json(directory / MANIFEST, manifest)
    write_json(
        settings.resolved_files_dir / LAST_BACKUP,
        {"at": manifest["created_at"], "directory": str(directory.resolve()), "database": kind},
    )
    return manifest
