"""A real PostgreSQL for the tests: the CI service on 127.0.0.1:5432, or `pgserver` locally.

In CI (`CI=true`) the service must be there: its absence fails the run, never skips it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def postgres_server() -> Iterator[tuple[str, str | None]]:
    """(dsn without database, unix socket dir or None) of a running PostgreSQL."""
    if asyncio.run(_can_connect(SERVICE_DSN)):
        yield SERVICE_DSN, None
        return
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI: PostgreSQL is not reachable at {SERVICE_DSN}")
    import pgserver

    with tempfile.TemporaryDirectory(prefix="threadline-pg-") as tmp:
        server = pgserver.get_server(Path(tmp), cleanup_mode="stop")
        socket_dir = str(server.get_postmaster_info().socket_dir)
        try:
            yield "postgresql://postgres@", socket_dir
        finally:
            server.cleanup()


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty database; yields its SQLAlchemy (asyncpg) URL and drops it afterwards."""
    name = f"threadline_test_{secrets.token_hex(4)}"
    with postgres_server() as (dsn, socket_dir):
        asyncio.run(_admin(dsn, f'CREATE DATABASE "{name}"', socket_dir))
        url = f"{dsn.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
        if socket_dir:
            url += f"?host={socket_dir}"
        try:
            yield url
        finally:
            asyncio.run(_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', socket_dir))
