"""Alembic environment: runs migrations over the async engine for either backend."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from threadline.db.engine import create_engine
from threadline.tables import Base

config = context.config
target_metadata = Base.metadata


# Search structures the models do not describe: made by migrations or at run time.
_UNMODELLED = ("chunk_fts", "chunk_vectors_", "ix_chunks_tsv")


def _include(obj: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    if name is None:
        return True
    if kind == "column" and name == "tsv":
        return False
    return not name.startswith(_UNMODELLED)


# API processes and workers may start together on one PostgreSQL: one migrates at a time (a
# transaction-level advisory lock), the others then find the schema current.
_MIGRATION_LOCK = 7_411_923_001


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_include,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    asyncio.run(_run_async(url))


run_migrations_online()
