"""`threadline restore DIR`: a backup put into an empty store (database and files
directory), then checked against its manifest."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from threadline.config import Settings
from threadline.db import migrate
from threadline.db.backup.contents import target_tables
from threadline.db.backup.errors import Refused
from threadline.db.backup.files import FILES, copy_files
from threadline.db.backup.manifest import read_manifest, threadline_version
from threadline.db.backup.postgres import POSTGRES_FILE, tool
from threadline.db.backup.sqlite import SQLITE_FILE, is_sqlite, place_sqlite, sqlite_path


async def restore(settings: Settings, directory: Path) -> int:
    manifest = read_manifest(directory)
    url = settings.resolved_database_url
    kind = "sqlite" if is_sqlite(url) else "postgresql"
    if manifest["database"] != kind:
        raise Refused(
            f"this backup is of a {manifest['database']} database and the target is {kind}; "
            "use `threadline store copy` to move between the two"
        )
    revision = manifest["schema_revision"]
    if revision is not None and not _known_revision(revision):
        raise Refused(
            f"the backup is at schema revision {revision}, which this Threadline "
            f"({threadline_version()}) does not know: restore it with the version that made it"
        )
    files_dir = settings.resolved_files_dir
    if files_dir.is_dir() and any(not p.name.startswith(".") for p in files_dir.iterdir()):
        raise Refused(f"the files directory {files_dir} holds files: restore into an empty store")
    present = await target_tables(url)
    full = {name: rows for name, rows in present.items() if rows}
    if full:
        some = ", ".join(f"{name} ({rows} rows)" for name, rows in sorted(full.items())[:3])
        raise Refused(
            f"the database {_shown(url)} holds Threadline data ({some}): restore into an "
            "empty store (a new data dir or a new database)"
        )
    if kind == "sqlite":
        await asyncio.to_thread(place_sqlite, directory / SQLITE_FILE, sqlite_path(url))
    else:
        options = ["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction"]
        if present:
            # A migrated but empty schema (a server started on it once): the dump's
            # objects replace it.
            options += ["--clean", "--if-exists"]
        dbname = make_url(url).database or ""
        await tool(
            "pg_restore", [*options, f"--dbname={dbname}", str(directory / POSTGRES_FILE)], url
        )
    count, size = await asyncio.to_thread(copy_files, directory / FILES, files_dir)
    restored = await target_tables(url)
    wrong = {
        name: (rows, restored.get(name))
        for name, rows in manifest["tables"].items()
        if restored.get(name) != rows
    }
    if wrong or count != manifest["files"]["count"]:
        print(
            f"threadline: the restored store differs from the manifest: tables {wrong}, "
            f"{count} files of {manifest['files']['count']}",
            file=sys.stderr,
        )
        return 1
    print(
        f"threadline: restored {sum(restored.values())} rows in {len(restored)} tables and "
        f"{count} files ({size} bytes) from the backup of {manifest['created_at']} (schema "
        f"{revision}, Threadline {manifest['threadline_version']}) into {_shown(url)}"
    )
    return 0


def _known_revision(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return (
            ScriptDirectory.from_config(migrate.alembic_config("")).get_revision(revision)
            is not None
        )
    except CommandError:
        return False


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)
