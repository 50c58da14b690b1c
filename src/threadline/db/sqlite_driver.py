"""SQLAlchemy's aiosqlite adapter, with one thread hop per statement.

aiosqlite runs each SQLite call on the connection's own thread, and every call is a hop
between that thread and the event loop (about 0.15 ms here). SQLAlchemy's generic adapter
makes four of them per statement (open a cursor, execute, fetch, close) and one more per
rollback even when no transaction is open; a short transaction cost about ten. This cursor
runs the statement, fetches its rows and closes it in one call on the connection's thread,
and a rollback with nothing to roll back stays on the event loop.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, int, int | None, list[Any]]:
    """On the connection's thread: execute, fetch everything, close."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor:
    """A DBAPI cursor over results fetched in full by the single call that executed them."""

    server_side = False
    __slots__ = ("_adapt", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, adapt: OneHopConnection) -> None:
        self._adapt = adapt
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def _execute(self, operation: str, parameters: Any, many: bool) -> None:
        aio = self._adapt._connection
        async with self._adapt._execute_mutex:
            result = await aio._execute(_run, aio._conn, operation, parameters, many)
        self.description, self.rowcount, self.lastrowid, rows = result
        self._rows = collections.deque(rows)

    def execute(self, operation: str, parameters: Any = None) -> None:
        try:
            await_(self._execute(operation, parameters, False))
        except Exception as error:
            self._adapt._handle_exception(error)

    def executemany(self, operation: str, seq_of_parameters: Any) -> None:
        try:
            await_(self._execute(operation, seq_of_parameters, True))
        except Exception as error:
            self._adapt._handle_exception(error)

    async def _async_soft_close(self) -> None:
        """Nothing stays open on the database's side."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def __enter__(self) -> OneHopCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = min(self.arraysize if size is None else size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    def fetchall(self) -> Sequence[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]

    def rollback(self) -> None:
        connection = self._connection._connection
        # Reading the flag from this thread is safe (check_same_thread is off).
        if connection is not None and connection.in_transaction:
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI module, whose connections are `OneHopConnection`s; connections
    come from the engine's `async_creator`."""

    def _init_dbapi_attributes(self) -> None:
        super()._init_dbapi_attributes()
        # Connections come from `self.sqlite` (sqlean), whose errors and version are its own,
        # not those of the stdlib sqlite3 that aiosqlite re-exports: SQLAlchemy wraps only
        # errors of these classes (an IntegrityError must reach the services as one).
        for name in (
            "DatabaseError",
            "Error",
            "IntegrityError",
            "NotSupportedError",
            "OperationalError",
            "ProgrammingError",
            "sqlite_version",
            "sqlite_version_info",
        ):
            setattr(self, name, getattr(self.sqlite, name))

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator = kw.pop("async_creator_fn")
        return OneHopConnection(self, await_(creator(*arg, **kw)))


def dbapi() -> OneHopDBAPI:
    import aiosqlite
    import sqlean.dbapi2

    return OneHopDBAPI(aiosqlite, sqlean.dbapi2)
