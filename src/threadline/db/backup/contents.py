"""What a database holds, as a backup records and a restore checks it: the schema revision,
the row count of each Threadline table, and the file ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from threadline.db.backup.sqlite import is_sqlite, sqlite_path
from threadline.db.engine import create_engine

T = TypeVar("T")


async def _on(url: str, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`read` on a connection to `url`, the engine disposed of after."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await read(connection)
    finally:
        await engine.dispose()


async def read_snapshot(url: str) -> tuple[str | None, dict[str, int], set[str]]:
    return await _on(url, describe)


async def describe(connection: AsyncConnection) -> tuple[str | None, dict[str, int], set[str]]:
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


async def target_tables(url: str) -> dict[str, int]:
    """The row count of each Threadline table in the target (none when it has no database)."""
    if is_sqlite(url) and not sqlite_path(url).exists():
        return {}
    return await _on(url, _counts)


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
