"""A real PostgreSQL for the tests: the CI service on 127.0.0.1:5432, or `pgserver` locally.

In CI (`CI=true`) the service must be there: its absence fails the run, never skips it.
The service has no pgvector; tests of the pgvector index use pgserver's PostgreSQL 16,
which ships it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

SERVICE_DSN = os.environ.get("THREADLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


async def _can_connect(dsn: str) -> bool:
    try:
        connection = await asyncpg.connect(f"{dsn}/postgres", timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await connection.close()
    return True


async def _admin(dsn: str, statement: str, host: str | None = None) -> None:
    kwargs = {"host": host} if host else {}
    connection = await asyncpg.connect(f"{dsn}/postgres", **kwargs)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


_embedded: Any = None


def _pgserver() -> tuple[str, str]:
    """A PostgreSQL 16 with pgvector from the `pgserver` package, started once per process."""
    global _embedded
    if _embedded is None:
        import pgserver

        directory = Path(tempfile.mkdtemp(prefix="threadline-pg-"))
        _embedded = pgserver.get_server(directory, cleanup_mode="stop")
        atexit.register(_embedded.cleanup)
    return "postgresql://postgres@", str(_embedded.get_postmaster_info().socket_dir)


def postgres_server(with_pgvector: bool = False) -> tuple[str, str | None]:
    """(dsn without database, unix socket dir or None) of a running PostgreSQL: the service
    at 127.0.0.1:5432 when it answers, else (or when pgvector is wanted) pgserver's."""
    if not with_pgvector and asyncio.run(_can_connect(SERVICE_DSN)):
        return SERVICE_DSN, None
    if not with_pgvector and os.environ.get("CI") == "true":
        raise RuntimeError(f"CI: PostgreSQL is not reachable at {SERVICE_DSN}")
    return _pgserver()


@contextmanager
def fresh_database(with_pgvector: bool = False) -> Iterator[str]:
    """A new, empty database; yields its SQLAlchemy (asyncpg) URL and drops it afterwards."""
    name = f"threadline_test_{secrets.token_hex(4)}"
    dsn, socket_dir = postgres_server(with_pgvector)
    asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"', socket_dir))
    url = f"{dsn.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    if socket_dir:
        url += f"?host={socket_dir}"
    try:
        yield url
    finally:
        asyncio.run(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', socket_dir))
