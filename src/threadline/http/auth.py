"""Bearer-key authentication. Every request resolves to the project that owns its objects.

Local mode: while no key has ever been created, any key (or none) is accepted and maps to
the `default` project. The CLI refuses to serve a non-loopback address in that state unless
told `--insecure-no-auth`. Once a key exists, even a revoked one, keys are required.

The caller's rate limits (its project's, and its key's own) are applied as it authenticates
(`http/ratelimit.py`).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request

from threadline.db.engine import Database
from threadline.http.errors import APIError
from threadline.http.ratelimit import admit_request, admit_run
from threadline.projects import service as projects
from threadline.projects.service import Caller

LOCAL_LIMITS_SECONDS = 1.0


class Authenticator:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._default_project: str | None = None
        # Keys are never deleted, so once seen they exist for good.
        self._keys_exist = False
        self._local: tuple[float, Caller] | None = None

    async def keys_exist(self) -> bool:
        if not self._keys_exist:
            self._keys_exist = await projects.any_key_exists(self.db)
        return self._keys_exist

    async def default_project(self) -> str:
        if self._default_project is None:
            self._default_project = await projects.project_id_for(self.db, projects.DEFAULT_PROJECT)
        return self._default_project

    async def local_caller(self) -> Caller:
        """Local mode's caller: the default project, whose limits (none unless set) are read
        again each `LOCAL_LIMITS_SECONDS` rather than on every request."""
        now = time.monotonic()
        if self._local is None or now - self._local[0] > LOCAL_LIMITS_SECONDS:
            caller = await projects.caller_for_project(self.db, await self.default_project())
            self._local = (now, caller)
        return self._local[1]

    async def caller_for(self, authorization: str | None) -> Caller:
        if not await self.keys_exist():
            return await self.local_caller()
        secret = _bearer(authorization)
        if secret:
            caller = await projects.caller_for_key(self.db, secret)
            if caller:
                return caller
        if not secret:
            raise APIError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        raise APIError(
            401,
            f"Incorrect API key provided: {_redact(secret)}.",
            code="invalid_api_key",
        )


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _redact(secret: str) -> str:
    if len(secret) <= 8:
        return "*" * len(secret)
    return f"{secret[:6]}{'*' * 8}{secret[-4:]}"


async def current_caller(request: Request) -> Caller:
    """FastAPI dependency: whom the request's key acts for, once its rate limits admit it."""
    authenticator: Authenticator = request.app.state.authenticator
    caller = await authenticator.caller_for(request.headers.get("authorization"))
    request.state.project_id = caller.project_id  # for the request's log line
    await admit_request(request, caller.subjects)
    return caller


async def current_project(caller: Annotated[Caller, Depends(current_caller)]) -> str:
    """FastAPI dependency: the project id of the request's key."""
    return caller.project_id


async def run_starter(
    request: Request, caller: Annotated[Caller, Depends(current_caller)]
) -> Caller:
    """FastAPI dependency of the routes that start runs: the caller, once its tokens limits
    have tokens left."""
    await admit_run(request, caller.subjects)
    return caller
