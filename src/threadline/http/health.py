"""Health: `GET /healthz` answers while the process is alive; `GET /readyz` answers 200
when what this process needs answers too (the database, at the current migration; the model
backends it calls, for a process that executes runs; Redis when configured), and 503 with
what is not, for load balancers and orchestrators. Neither needs a key."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from threadline import metrics
from threadline.db import migrate
from threadline.http.errors import error_body

router = APIRouter(include_in_schema=False)

CHECK_SECONDS = 3.0


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    state = request.app.state
    health: dict[str, Any] = {"status": "ok", "role": state.settings.role}
    worker = getattr(state, "run_worker", None)
    if worker is not None:
        health["worker"] = {"name": worker.name, "runs_executed": worker.executed}
    return health


async def _database(state: Any) -> str | None:
    async with state.db.read() as session:
        await session.execute(text("SELECT 1"))
    at, wanted = await migrate.current(state.db), migrate.head()
    if at != wanted:
        return f"the database is at migration {at}, this version needs {wanted}"
    return None


async def _redis(state: Any) -> str | None:
    await state.redis.ping()
    return None


async def _backends(state: Any) -> str | None:
    problems = await state.engine.models.check()
    return "; ".join(problems) or None


async def _check(name: str, probe: Any, state: Any) -> tuple[str, str | None]:
    try:
        return name, await asyncio.wait_for(probe(state), CHECK_SECONDS)
    except TimeoutError:
        return name, f"no answer in {CHECK_SECONDS:g} s"
    except Exception as error:
        return name, f"{type(error).__name__}: {error}"


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus metrics; with `THREADLINE_METRICS_TOKEN` set, only for that bearer token."""
    token = request.app.state.settings.metrics_token
    if token and request.headers.get("authorization") != f"Bearer {token}":
        return JSONResponse(
            error_body("Metrics need the metrics token.", code="invalid_api_key"), 401
        )
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state = request.app.state
    probes = [("database", _database)]
    if getattr(state, "redis", None) is not None:
        probes.append(("redis", _redis))
    if getattr(state, "engine", None) is not None:
        probes.append(("model_backends", _backends))
    results = await asyncio.gather(*(_check(name, probe, state) for name, probe in probes))
    checks = {name: problem or "ok" for name, problem in results}
    ready = all(problem is None for _, problem in results)
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
