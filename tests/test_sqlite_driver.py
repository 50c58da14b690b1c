"""The SQLite driver (sqlean through aiosqlite, one thread hop per statement) keeps the
DB-API contract SQLAlchemy relies on: its errors arrive wrapped as SQLAlchemy's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from threadline.db.engine import Database


def test_a_constraint_violation_is_an_integrity_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
        try:
            async with db.write() as session:
                await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
                await session.execute(text("INSERT INTO t (id) VALUES (1)"))
            with pytest.raises(exc.IntegrityError):
                async with db.write() as session:
                    await session.execute(text("INSERT INTO t (id) VALUES (1)"))
            with pytest.raises(exc.OperationalError):
                async with db.read() as session:
                    await session.execute(text("SELECT * FROM missing"))
            async with db.read() as session:
                assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 1
        finally:
            await db.dispose()

    asyncio.run(scenario())
