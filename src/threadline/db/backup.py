"""`threadline backup DIR` and `threadline restore DIR`: a consistent snapshot of a running
deployment (database and file bytes), and that snapshot put into an empty store.

A backup directory holds the database (`threadline.db`, an SQLite file made with SQLite's
online backup API, or `threadline.dump`, `pg_dump --format=custom`), `files/` (the file
bytes) and `manifest.json` (version, schema revision, time, row counts, file count and
bytes; restore checks its result against them).

The time of the last backup is kept in `LAST_BACKUP`, a small JSON file in the files
directory, for `threadline doctor`. The files directory is the one place besides the
database that every process of a deployment shares (the same volume for the API processes
and the workers), so any process's doctor sees it, on SQLite and PostgreSQL alike; unlike a
row in a table it needs no migration, and it never ends up inside the snapshot it dates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import sqlean
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.config import Settings
from threadline.db import migrate
from threadline.db.engine import create_engine
from threadline.store_options import store_options

NAMES = ("backup", "restore")

MANIFEST = "manifest.json"
SQLITE_FILE = "threadline.db"
POSTGRES_FILE = "threadline.dump"
FILES = "files"
# In the files directory; its leading dot keeps it out of backups and emptiness checks, as
# the `.upload-*` files being written are.
LAST_BACKUP = ".last-backup.json"
FORMAT = 1


class Refused(Exception):
    """The command cannot go on (exit status 2): a non-empty target, a bad backup."""


def add(commands: Any) -> None:
    backup = commands.add_parser(
        "backup",
        help="write a consistent snapshot of the database and file bytes into DIR, "
        "while the server serves",
    )
    restore = commands.add_parser(
        "restore", help="restore a backup from DIR into an empty store (database and files dir)"
    )
    for parser, what in ((backup, "new or empty directory"), (restore, "a backup's directory")):
        parser.add_argument("dir", type=Path, metavar="DIR", help=what)
        store_options(parser, files_dir=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "backup":
            manifest = asyncio.run(backup(settings, args.dir))
            files = manifest["files"]
            print(
                f"threadline: backed up {sum(manifest['tables'].values())} rows and "
                f"{files['count']} files ({files['bytes']} bytes) into {args.dir}"
            )
            for file_id in manifest["missing_files"]:
                print(f"threadline: file {file_id} was deleted during the backup", file=sys.stderr)
            return 0
        return asyncio.run(restore(settings, args.dir))
    except Refused as error:
        print(f"threadline: {error}", file=sys.stderr)
        return 2


# -- backup ---------------------------------------------------------------------------------


async def backup(settings: Settings, directory: Path) -> dict[str, Any]:
    """Snapshot the database, then copy the files; the manifest it wrote."""
    if directory.exists() and any(directory.iterdir()):
        raise Refused(f"{directory} is not empty: give each backup a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    started = datetime.now(UTC)
    if _is_sqlite(url):
        kind, database_file = "sqlite", SQLITE_FILE
        await asyncio.to_thread(_sqlite_snapshot, _sqlite_path(url), directory / SQLITE_FILE)
        revision, tables, file_ids = await _read_snapshot(_sqlite_url(directory / SQLITE_FILE))
    else:
        kind, database_file = "postgresql", POSTGRES_FILE
        revision, tables, file_ids = await _postgres_snapshot(url, directory / POSTGRES_FILE)
    # The files are copied after the database snapshot, and that is what makes the pair
    # consistent: a file's bytes are written before its row commits and never change under
    # its id afterwards, so every file row in the snapshot already has its bytes on disk.
    # Files uploaded since come along too, rowless and harmless. The one gap is a file
    # deleted between the snapshot and the copy: its row is in the snapshot, its bytes are
    # gone; the manifest lists those (`missing_files`) and the command says so.
    count, size = await asyncio.to_thread(
        _copy_files, settings.resolved_files_dir, directory / FILES
    )
    missing = sorted(i for i in file_ids if not (directory / FILES / i).is_file())
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "threadline_version": _version(),
        "schema_revision": revision,
        "created_at": started.isoformat(timespec="seconds"),
        "database": kind,
        "database_file": database_file,
        "tables": tables,
        "files": {"count": count, "bytes": size},
        "missing_files": missing,
    }
    _write_json(directory / MANIFEST, manifest)
    _write_json(
        settings.resolved_files_dir / LAST_BACKUP,
        {"at": manifest["created_at"], "directory": str(directory.resolve()), "database": kind},
    )
    return manifest


def _sqlite_snapshot(source: Path, target: Path) -> None:
    """SQLite's online backup API: one step (all pages) under one read transaction, so the
    copy is the database at one instant even while the server writes (WAL lets the writer
    go on). The sqlite-vec tables are tables of the same file and come along."""
    if not source.is_file():
        raise Refused(f"no database at {source}")
    src = sqlean.connect(str(source))
    try:
        src.execute("PRAGMA busy_timeout=30000")
        dst = sqlean.connect(str(target))
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


async def _postgres_snapshot(url: str, target: Path) -> tuple[str | None, dict[str, int], set[str]]:
    """pg_dump under a snapshot exported by a repeatable-read transaction that counts the
    rows too: the dump and the manifest's counts see the same instant."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            snapshot_conn = await connection.execution_options(isolation_level="REPEATABLE READ")
            snapshot = (await snapshot_conn.execute(text("SELECT pg_export_snapshot()"))).scalar()
            revision, tables, file_ids = await _describe(snapshot_conn)
            await _tool(
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot}", f"--file={target}", "--no-password"],
                url,
            )
            await snapshot_conn.rollback()
    finally:
        await engine.dispose()
    return revision, tables, file_ids


async def _read_snapshot(url: str) -> tuple[str | None, dict[str, int], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await _describe(connection)
    finally:
        await engine.dispose()


async def _describe(connection: AsyncConnection) -> tuple[str | None, dict[str, int], set[str]]:
    """The schema revision, the row count of each Threadline table, and the file ids."""
    tables = await _counts(connection)
    revision = None
    if await _has_table(connection, "alembic_version"):
        revision = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar()
    file_ids: set[str] = set()
    if "files" in tables:
        file_ids = set((await connection.execute(text("SELECT id FROM files"))).scalars())
    return revision, tables, file_ids


def _copy_files(source: Path, target: Path) -> tuple[int, int]:
    target.mkdir(parents=True, exist_ok=True)
    count = size = 0
    if not source.is_dir():
        return 0, 0
    for path in sorted(source.iterdir()):
        # `.upload-*` are uploads still being written (they become an id by rename).
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            shutil.copy2(path, target / path.name)
        except FileNotFoundError:
            continue  # deleted since it was listed; see `missing_files`
        count += 1
        size += (target / path.name).stat().st_size
    return count, size


# -- restore --------------------------------------------------------------------------------


async def restore(settings: Settings, directory: Path) -> int:
    manifest = _read_manifest(directory)
    url = settings.resolved_database_url
    kind = "sqlite" if _is_sqlite(url) else "postgresql"
    if manifest["database"] != kind:
        raise Refused(
            f"this backup is of a {manifest['database']} database and the target is {kind}; "
            "use `threadline store copy` to move between the two"
        )
    revision = manifest["schema_revision"]
    if revision is not None and not _known_revision(revision):
        raise Refused(
            f"the backup is at schema revision {revision}, which this Threadline "
            f"({_version()}) does not know: restore it with the version that made it"
        )
    files_dir = settings.resolved_files_dir
    if files_dir.is_dir() and any(not p.name.startswith(".") for p in files_dir.iterdir()):
        raise Refused(f"the files directory {files_dir} holds files: restore into an empty store")
    present = await _target_tables(url)
    full = {name: rows for name, rows in present.items() if rows}
    if full:
        some = ", ".join(f"{name} ({rows} rows)" for name, rows in sorted(full.items())[:3])
        raise Refused(
            f"the database {_shown(url)} holds Threadline data ({some}): restore into an "
            "empty store (a new data dir or a new database)"
        )
    if kind == "sqlite":
        await asyncio.to_thread(_place_sqlite, directory / SQLITE_FILE, _sqlite_path(url))
    else:
        options = ["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction"]
        if present:
            # A migrated but empty schema (a server started on it once): the dump's
            # objects replace it.
            options += ["--clean", "--if-exists"]
        dbname = make_url(url).database or ""
        await _tool(
            "pg_restore", [*options, f"--dbname={dbname}", str(directory / POSTGRES_FILE)], url
        )
    count, size = await asyncio.to_thread(_copy_files, directory / FILES, files_dir)
    restored = await _target_tables(url)
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


def _read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError as error:
        raise Refused(f"{directory} is not a Threadline backup: no {MANIFEST}") from error
    except ValueError as error:
        raise Refused(f"{directory / MANIFEST} is not JSON: {error}") from error
    if manifest.get("format") != FORMAT:
        raise Refused(f"{directory / MANIFEST}: unknown format {manifest.get('format')!r}")
    database = directory / manifest["database_file"]
    if not database.is_file():
        raise Refused(f"the backup's database {database} is missing")
    return manifest


def _place_sqlite(snapshot: Path, target: Path) -> None:
    """Copy the snapshot to a temporary name beside the target, then rename it over: a
    crash leaves no half-copied database. A WAL or shared-memory file of the database it
    replaces would be read as the new one's, so they go first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.restore-")
    os.close(fd)
    try:
        shutil.copyfile(snapshot, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


async def _target_tables(url: str) -> dict[str, int]:
    """The row count of each Threadline table in the target (none when it has no database)."""
    if _is_sqlite(url) and not _sqlite_path(url).exists():
        return {}
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await _counts(connection)
    finally:
        await engine.dispose()


# -- shared ---------------------------------------------------------------------------------


async def _counts(connection: AsyncConnection) -> dict[str, int]:
    """Rows of each Threadline table: every table but Alembic's, and on SQLite but virtual
    tables (sqlite-vec's, FTS5's) and their shadow tables, which hold bookkeeping rows even
    when empty and follow the tables they index."""
    if connection.dialect.name == "sqlite":
        rows = (
            await connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            )
        ).all()
        virtual = [name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")]
        names = [
            name
            for name, _ in rows
            if name not in virtual
            and not name.startswith("sqlite_")
            and not any(name.startswith(f"{v}_") for v in virtual)
        ]
    else:
        names = list(
            (
                await connection.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
        )
    counts = {}
    for name in sorted(names):
        if name == "alembic_version":
            continue
        quoted = connection.dialect.identifier_preparer.quote(name)
        counts[name] = (
            await connection.execute(text(f"SELECT count(*) FROM {quoted}"))
        ).scalar_one()
    return counts


async def _has_table(connection: AsyncConnection, name: str) -> bool:
    if connection.dialect.name == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"
    else:
        query = "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = :name"
    return (await connection.execute(text(query), {"name": name})).first() is not None


def libpq_environment(url: str) -> dict[str, str]:
    """The connection parameters of a SQLAlchemy PostgreSQL URL as libpq's variables, for
    pg_dump and pg_restore: the password travels in the environment, never on a command
    line that `ps` shows."""
    parsed = make_url(url)
    query: Mapping[str, Any] = parsed.query
    env: dict[str, str] = {}

    def first(value: Any) -> str:
        return str(value[0] if isinstance(value, tuple) else value)

    host = query.get("host") or parsed.host  # asyncpg's `?host=/socket/dir`
    if host:
        env["PGHOST"] = first(host)
    port = query.get("port") or parsed.port
    if port:
        env["PGPORT"] = first(port)
    if parsed.username:
        env["PGUSER"] = parsed.username
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    if parsed.database:
        env["PGDATABASE"] = parsed.database
    ssl = query.get("sslmode") or query.get("ssl")
    if ssl:
        mode = first(ssl).lower()
        modes = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
        env["PGSSLMODE"] = mode if mode in modes else ("require" if mode == "true" else "prefer")
    return env


async def _tool(program: str, arguments: list[str], url: str) -> None:
    found = shutil.which(program)
    if found is None:
        raise Refused(f"{program} is not installed (Debian: postgresql-client)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    process = await asyncio.create_subprocess_exec(
        found,
        *arguments,
        env={**clean, **libpq_environment(url)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        said = (err or out).decode(errors="replace").strip()
        raise Refused(f"{program} failed ({process.returncode}): {said}")


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


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


def _version() -> str:
    try:
        return version("threadline")
    except PackageNotFoundError:
        return "unknown"


def _write_json(path: Path, value: Any) -> None:
    """Written to a temporary name and renamed: readers (doctor, restore) never see half a
    file, and two backups at once leave one whole record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.tmp-")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(value, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def last_backup(settings: Settings) -> tuple[datetime, str] | None:
    """When the last backup of this deployment was taken, and where; None when none is
    known (for `threadline doctor`)."""
    try:
        record = json.loads((settings.resolved_files_dir / LAST_BACKUP).read_text())
        return datetime.fromisoformat(record["at"]), str(record.get("directory", "?"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def age_hours(when: datetime) -> float:
    return (time.time() - when.timestamp()) / 3600
