"""The async engine and the kinds of session the services use.

`read()` opens a plain transaction. `write()` opens one that, on SQLite, takes the write
lock up front (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails
at once with SQLITE_BUSY when another writer got in between, whereas an immediate one
waits its turn under `busy_timeout`. `dry_run()` is a write that is always rolled back.

SQLite is the build of `sqlean.py` (a current SQLite that can load extensions, on every
platform) with `sqlite-vec` loaded, driven through aiosqlite: Python's own sqlite3 may be
built without extension loading, and vector search needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite
import sqlean
import sqlite_vec
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from threadline.db import sqlite_driver

# An execution option: on SQLite, begin with the write lock taken (`BEGIN IMMEDIATE`).
IMMEDIATE = "threadline_immediate"
_AFTER_COMMIT = "threadline_after_commit"


def after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's write transaction has committed (never on a
    rollback): for work that must only see committed rows."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


BUSY_TIMEOUT_MS = 30000


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let the "begin" hook below emit BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_connector(path: str) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    def connect() -> Any:
        connection = sqlean.connect(path, check_same_thread=False)
        connection.enable_load_extension(True)
        sqlite_vec.load(connection)
        connection.enable_load_extension(False)
        return connection

    async def create() -> aiosqlite.Connection:
        return await aiosqlite.Connection(connect, iter_chunk_size=64)

    return create


def create_engine(url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> AsyncEngine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    # A burst of runs waits for connections rather than failing after the default 30 s.
    if parsed.get_backend_name() == "postgresql":
        kwargs.update(pool_size=20, max_overflow=20, pool_pre_ping=True, pool_timeout=300)
    elif parsed.get_backend_name() == "sqlite" and parsed.database:
        kwargs.update(
            async_creator=_sqlite_connector(parsed.database),
            module=sqlite_driver.dbapi(),
            pool_timeout=300,
        )
    engine = create_async_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _configure_sqlite(engine, busy_timeout_ms)
    return engine


class Database:
    def __init__(self, url: str, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.url = url
        self.engine = create_engine(url, busy_timeout_ms)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(
            self.engine.execution_options(**{IMMEDIATE: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time. Writers of this process take turns here, in
        # order, instead of in SQLite's busy handler, which sleeps between tries while
        # holding a pooled connection and its thread.
        self._write_turn = asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits on success and rolls back on error;
        then the callbacks registered with `after_commit` run."""
        async with self._write_turn, self._writer() as session:
            async with session.begin():
                yield session
            for callback in session.info.pop(_AFTER_COMMIT, ()):
                callback()

    @asynccontextmanager
    async def dry_run(self) -> AsyncIterator[AsyncSession]:
        """A write transaction that is always rolled back: to read what a write would make
        (the prompt over the rows a request would add) and keep none of it. It takes its
        turn as `write()` does; `after_commit` callbacks never run."""
        async with self._write_turn, self._writer() as session:
            transaction = await session.begin()
            try:
                yield session
            finally:
                session.info.pop(_AFTER_COMMIT, None)
                await transaction.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()
