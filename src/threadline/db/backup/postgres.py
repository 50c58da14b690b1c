"""A PostgreSQL database in a backup: `pg_dump --format=custom` (`threadline.dump`) under
an exported snapshot, and running pg_dump and pg_restore with the URL's connection
parameters as libpq's variables."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from threadline.db.backup.contents import describe
from threadline.db.backup.errors import Refused
from threadline.db.engine import create_engine

POSTGRES_FILE = "threadline.dump"


async def postgres_snapshot(url: str, target: Path) -> tuple[str | None, dict[str, int], set[str]]:
    """pg_dump under a snapshot exported by a repeatable-read transaction that counts the
    rows too: the dump and the manifest's counts see the same instant."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            snapshot_conn = await connection.execution_options(isolation_level="REPEATABLE READ")
            snapshot = (await snapshot_conn.execute(text("SELECT pg_export_snapshot()"))).scalar()
            revision, tables, file_ids = await describe(snapshot_conn)
            await tool(
                "pg_dump",
                ["--format=custom", f"--snapshot={snapshot}", f"--file={target}", "--no-password"],
                url,
            )
            await snapshot_conn.rollback()
    finally:
        await engine.dispose()
    return revision, tables, file_ids


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


async def tool(program: str, arguments: list[str], url: str) -> None:
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
