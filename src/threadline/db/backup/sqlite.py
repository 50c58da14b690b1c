"""A SQLite database in a backup: its snapshot by SQLite's online backup API
(`threadline.db`), its placing over the target's file, and the URL helpers both need."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import sqlean
from sqlalchemy.engine import make_url

from threadline.db.backup.errors import Refused

SQLITE_FILE = "threadline.db"


def sqlite_snapshot(source: Path, target: Path) -> None:
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


def place_sqlite(snapshot: Path, target: Path) -> None:
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


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
