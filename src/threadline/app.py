"""The ASGI application: routers under /v1, error shapes, body limits, shared state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from threadline.assistants.router import router as assistants_router
from threadline.backends.embeddings import build_embedder
from threadline.backends.registry import build_registry
from threadline.config import Settings
from threadline.db.engine import Database
from threadline.engine.engine import Engine
from threadline.engine.model_call import RetrySettings
from threadline.files import service as files_service
from threadline.files.router import router as files_router
from threadline.files.storage import FileStorage
from threadline.http import errors
from threadline.http.auth import Authenticator
from threadline.http.limits import BodyLimit
from threadline.runs.router import router as runs_router
from threadline.runs.router import thread_and_run_router
from threadline.threads.router import router as threads_router
from threadline.tools.base import ToolParts
from threadline.tools.registry import build_tools
from threadline.vector_stores import service as vector_stores_service
from threadline.vector_stores.index import ChunkIndex, make_index
from threadline.vector_stores.ingestion.worker import IngestionWorker
from threadline.vector_stores.router import router as vector_stores_router

log = logging.getLogger("threadline")

REAP_INTERVAL_SECONDS = 60
_UPLOAD_OVERHEAD = 64 * 1024  # multipart framing and form fields around the file


async def _reap_forever(
    db: Database, storage: FileStorage, hooks: files_service.DeletionHooks, index: ChunkIndex
) -> None:
    """Expired files and vector stores."""
    while True:
        try:
            await files_service.reap_expired(db, storage, hooks)
            await vector_stores_service.expire_overdue(db, index)
        except Exception:
            log.exception("reaping expired objects failed")
        await asyncio.sleep(REAP_INTERVAL_SECONDS)


def file_deletion_hooks(index: ChunkIndex) -> files_service.DeletionHooks:
    """What goes with a deleted (or expired) file: it leaves every vector store it was in."""
    hooks = files_service.DeletionHooks()
    hooks.register(
        lambda session, file_id: vector_stores_service.forget_file_everywhere(
            session, index, file_id
        )
    )
    return hooks


def create_app(
    settings: Settings | None = None, on_ready: Callable[[], None] | None = None
) -> FastAPI:
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url)
        storage = FileStorage(settings.resolved_files_dir)
        app.state.settings = settings
        app.state.db = db
        app.state.storage = storage
        app.state.authenticator = Authenticator(db)
        embedder = build_embedder(settings)
        index = await make_index(db)
        ingestion = IngestionWorker(
            db,
            storage,
            index,
            embedder,
            settings.embeddings_model if settings.embeddings_base_url else "multilingual-e5-small",
        )
        app.state.embedder, app.state.chunk_index, app.state.ingestion = embedder, index, ingestion
        app.state.file_deletion_hooks = file_deletion_hooks(index)
        tools = build_tools(ToolParts(settings, db, storage, index, embedder), settings.tools)
        engine = Engine(
            db,
            storage,
            build_registry(settings),
            tools,
            RetrySettings(
                max_attempts=settings.llm_max_attempts,
                retry_base_delay=settings.llm_retry_base_delay,
            ),
            max_concurrency=settings.max_concurrent_runs,
        )
        app.state.engine = engine
        app.state.run_channels = engine.channels
        await ingestion.start()
        await engine.start()
        reaper = asyncio.create_task(
            _reap_forever(db, storage, app.state.file_deletion_hooks, index)
        )
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper
            await engine.stop()
            await ingestion.stop()
            await embedder.aclose()
            await db.dispose()

    app = FastAPI(title="Threadline", version="0.1.0", lifespan=lifespan)
    errors.install(app)
    routers = (
        assistants_router,
        thread_and_run_router,
        threads_router,
        runs_router,
        files_router,
        vector_stores_router,
    )
    for router in routers:
        app.include_router(router, prefix="/v1")

    def limit_for(path: str) -> int:
        if path.rstrip("/") == "/v1/files":
            return settings.max_upload_bytes + _UPLOAD_OVERHEAD
        return settings.max_json_body_bytes

    app.add_middleware(BodyLimit, limit_for=limit_for)
    return app
