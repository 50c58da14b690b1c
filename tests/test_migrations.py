"""The migrations build the schema the models describe, on both stores: a table, column,
index or foreign key added to a model without its migration (or the other way round) fails
here, not on a deployment that upgrades."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.postgres import fresh_database
from threadline.db import migrate
from threadline.tables import Base

# What the migrations make that no model maps: the search indexes' own tables, and on
# PostgreSQL the chunks' full-text column and its index (vector_stores/index.py).
UNMAPPED_PREFIXES = ("chunk_fts", "chunk_vec", "vector_index", "keyword", "vec_", "sqlite_")
POSTGRES_SEARCH = ("ix_chunks_tsv", "tsv")


def _unmapped(diff: tuple) -> bool:
    kind = diff[0]
    if kind == "remove_table":
        return diff[1].name.startswith(UNMAPPED_PREFIXES)
    if kind == "remove_index":
        return diff[1].name in POSTGRES_SEARCH
    if kind == "remove_column":
        return (diff[2], diff[3].name) == ("chunks", "tsv")
    return False


def differences(url: str) -> list:
    async def compare() -> list:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    found = asyncio.run(compare())
    return [diff for diff in found if not (isinstance(diff, tuple) and _unmapped(diff))]


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_migrations_make_the_models_schema(store: str, tmp_path: Path) -> None:
    if store == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
        migrate.upgrade(url)
        assert differences(url) == []
        return
    with fresh_database() as url:
        migrate.upgrade(url)
        assert differences(url) == []
