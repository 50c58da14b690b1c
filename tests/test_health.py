"""Health for load balancers and orchestrators: `/healthz` while the process lives, `/readyz`
200 while the database (at the current migration) and the model backends answer, and 503
naming what does not."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx

from tests.conftest import ENGINE_ENV, ServerFactory
from tests.support.postgres import fresh_database, postgres_server
from tests.support.scripted_backend import ScriptedBackend
from tests.support.server import Server, free_port


def root(server: Server) -> str:
    return server.base_url.removesuffix("/v1")


def test_ready_and_healthy(server: Server) -> None:
    assert httpx.get(f"{root(server)}/healthz").json() == {"status": "ok", "role": "all"}
    ready = httpx.get(f"{root(server)}/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "status": "ready",
        "checks": {"database": "ok", "model_backends": "ok"},
    }


def test_a_backend_that_does_not_answer(spawn: ServerFactory) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    server = spawn({"THREADLINE_LLM_BASE_URL": closed}, with_llm=False)
    ready = httpx.get(f"{root(server)}/readyz", timeout=10)
    assert ready.status_code == 503
    assert "does not answer" in ready.json()["checks"]["model_backends"]
    assert ready.json()["checks"]["database"] == "ok"
    assert httpx.get(f"{root(server)}/healthz").status_code == 200


def test_sqlite_behind_on_migrations(tmp_path: Path) -> None:
    db_file = tmp_path / "threadline.db"
    server = Server(
        database_url=f"sqlite+aiosqlite:///{db_file}", data_dir=tmp_path, env=ENGINE_ENV
    ).start()
    try:
        with sqlite3.connect(db_file) as connection:
            connection.execute("DELETE FROM alembic_version")
        ready = httpx.get(f"{root(server)}/readyz", timeout=10)
        assert ready.status_code == 503
        assert "migration None" in ready.json()["checks"]["database"]
    finally:
        server.stop()


def test_postgres_going_away(tmp_path: Path, llm: ScriptedBackend) -> None:
    with fresh_database() as url:
        env = {"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV}
        server = Server(database_url=url, data_dir=tmp_path, env=env).start()
        try:
            assert httpx.get(f"{root(server)}/readyz").status_code == 200
            dsn, socket_dir = postgres_server()
            name = url.rsplit("/", 1)[-1].split("?")[0]
            asyncio.run(_drop(dsn, name, socket_dir))
            ready = httpx.get(f"{root(server)}/readyz", timeout=10)
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"] != "ok"
            assert httpx.get(f"{root(server)}/healthz").status_code == 200
        finally:
            server.stop()


async def _drop(dsn: str, name: str, socket_dir: str | None) -> None:
    import asyncpg

    kwargs = {"host": socket_dir} if socket_dir else {}
    connection = await asyncpg.connect(f"{dsn}/postgres", **kwargs)
    try:
        await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await connection.close()
