"""FastAPI dependencies shared by the routers: the database, the project, settings.

All are `async def`: FastAPI runs a plain `def` dependency on a worker thread, a thread
hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from threadline.config import Settings
from threadline.db.engine import Database
from threadline.http.auth import current_project, run_starter
from threadline.projects.service import Caller


async def database(request: Request) -> Database:
    return request.app.state.db


async def settings(request: Request) -> Settings:
    return request.app.state.settings


DB = Annotated[Database, Depends(database)]
ProjectId = Annotated[str, Depends(current_project)]
# The routes that start runs: the caller, once its tokens limits admit a run.
RunCaller = Annotated[Caller, Depends(run_starter)]
SettingsDep = Annotated[Settings, Depends(settings)]
