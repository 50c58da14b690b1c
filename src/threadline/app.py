"""The ASGI application: routers under /v1, error shapes, body limits, rate limit headers,
and the parts of the process for its role (`roles.py`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from threadline import logs
from threadline.assistants.router import router as assistants_router
from threadline.config import Settings
from threadline.console import router as console
from threadline.containers.router import router as containers_router
from threadline.conversations.router import router as conversations_router
from threadline.files.router import router as files_router
from threadline.http import errors, health, openapi
from threadline.http.limits import BodyLimit
from threadline.http.ratelimit import RateLimitHeaders
from threadline.http.requests_log import RequestsLog
from threadline.http.storable import StorableInput
from threadline.models.router import router as models_router
from threadline.responses.router import router as responses_router
from threadline.roles import assemble
from threadline.runs.router import router as runs_router
from threadline.runs.router import thread_and_run_router
from threadline.threads.router import router as threads_router
from threadline.vector_stores.router import router as vector_stores_router

_UPLOAD_OVERHEAD = 64 * 1024  # multipart framing and form fields around the file
# Uploads go to files and to containers' files; other bodies are JSON.
_CONTAINER_FILES = re.compile(r"/v1/containers/[^/]+/files")


def create_app(
    settings: Settings | None = None, on_ready: Callable[[], None] | None = None
) -> FastAPI:
    settings = settings or Settings()
    logs.configure(settings.log_level, settings.log_format)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await assemble(settings, app.state, stack)
            if on_ready is not None:
                on_ready()
            yield

    # The interactive docs (/docs) with Swagger UI's files served from here, not a CDN: a
    # self-hosted server may have no way out.
    app = FastAPIOffline(title="Threadline", version="0.1.0", lifespan=lifespan, redoc_url=None)
    errors.install(app)
    openapi.install(app)

    app.include_router(health.router)

    if settings.role != "worker":
        routers = (
            assistants_router,
            thread_and_run_router,
            threads_router,
            runs_router,
            files_router,
            vector_stores_router,
            models_router,
            conversations_router,
            responses_router,
            containers_router,
        )
        for router in routers:
            app.include_router(router, prefix="/v1")
        # The web console, after the API so that it shadows none of it.
        app.include_router(console.router)
        app.mount(console.ASSETS_PREFIX, console.assets(), name="console")

    def limit_for(path: str) -> int:
        if path.rstrip("/") == "/v1/files" or _CONTAINER_FILES.fullmatch(path.rstrip("/")):
            return settings.max_upload_bytes + _UPLOAD_OVERHEAD
        return settings.max_json_body_bytes

    # The innermost first: errors answered in place, rate limit headers added to every
    # answer, then unstorable input refused, then bodies over their limit (outermost, so
    # that nothing larger is read).
    app.add_middleware(errors.CatchAll)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(StorableInput)
    app.add_middleware(BodyLimit, limit_for=limit_for)
    app.add_middleware(RequestsLog)
    return app
