"""OpenAI-shaped errors: `{"error": {"message", "type", "param", "code"}}`.

Every failure leaves the server in this shape: the domain's errors (`threadline.errors`,
mapped to a status here), HTTP-only `APIError`s (auth, body limits), request validation,
unknown routes and methods, and (as a last resort) unexpected exceptions.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from threadline.errors import InvalidRequest, ModelFailed, NotFound, ThreadlineError
from threadline.http.middleware import HTTPMiddleware
from threadline.http.validation import describe_validation_error

log = logging.getLogger("threadline")

INVALID_REQUEST = "invalid_request_error"


# The status of each domain error; a subclass without its own entry takes its parent's.
DOMAIN_STATUS: dict[type[ThreadlineError], int] = {
    ThreadlineError: 400,
    InvalidRequest: 400,
    NotFound: 404,
    ModelFailed: 424,
}


class APIError(Exception):
    """An error only the HTTP layer raises (auth, body limits), with its status."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(
    message: str, type: str = INVALID_REQUEST, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def domain_status(exc: ThreadlineError) -> int:
    return next(DOMAIN_STATUS[cls] for cls in type(exc).__mro__ if cls in DOMAIN_STATUS)


def _response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
    # Client errors are final: tell the SDKs not to retry them.
    merged = {"x-should-retry": "false"} if 400 <= status < 500 and status != 429 else {}
    merged.update(headers or {})
    return JSONResponse(body, status_code=status, headers=merged)


async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
    return _response(exc.status_code, exc.body(), exc.headers)


async def _domain_error(_request: Request, exc: ThreadlineError) -> JSONResponse:
    status = domain_status(exc)
    kind = "server_error" if isinstance(exc, ModelFailed) else INVALID_REQUEST
    return _response(status, error_body(exc.message, kind, param=exc.param, code=exc.code))


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    message, param, code = describe_validation_error(exc.errors())
    return _response(400, error_body(message, param=param, code=code))


# The order in which `Allow` lists methods.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _path_methods(app: Any) -> list[tuple[re.Pattern[str], set[str]]]:
    """Each path template of the app's operations as a pattern, with its methods (read once
    from the app's OpenAPI document: how FastAPI keeps included routes is its own affair)."""
    table = getattr(app.state, "path_methods", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            literal = re.split(r"\{[^}/]+\}", template)
            pattern = re.compile("[^/]+".join(re.escape(part) for part in literal))
            table.append((pattern, {method.upper() for method in operations}))
        app.state.path_methods = table
    return table


def allowed_methods(request: Request, route_allows: str | None) -> str:
    """The `Allow` header of a 405: every method some route answers at the request's path
    (Starlette names only the methods of the first route whose path matched)."""
    methods = {method.strip().upper() for method in (route_allows or "").split(",")} - {""}
    path = request.scope.get("path", "")
    for pattern, verbs in _path_methods(request.app):
        if pattern.fullmatch(path):
            methods |= verbs
    rank = {method: index for index, method in enumerate(_METHOD_ORDER)}
    return ", ".join(sorted(methods, key=lambda method: (rank.get(method, len(rank)), method)))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    where = f"({request.method} {request.url.path})"
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        message = f"Invalid URL {where}"
    elif exc.status_code == 405:
        message = f"Method not allowed {where}"
        route_allows = next((v for k, v in headers.items() if k.lower() == "allow"), None)
        headers = {name: value for name, value in headers.items() if name.lower() != "allow"}
        headers["Allow"] = allowed_methods(request, route_allows)
    else:
        message = str(exc.detail)
    return _response(exc.status_code, error_body(message), headers)


def _store_held(exc: Exception) -> bool:
    """SQLite's write lock held past the busy timeout: by an operator's `threadline store
    copy` (or a long transaction of another process), not by a fault of this request."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if _store_held(exc):
        log.warning("%s %s: the store is not taking writes now", request.method, request.url.path)
        body = error_body(
            "The store is not taking writes at the moment (another process holds it, e.g. "
            "a store copy); please retry your request.",
            "server_error",
            code="store_busy",
        )
        return _response(503, body, {"retry-after": "5"})
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body("The server had an error while processing your request.", "server_error")
    return _response(500, body)


class CatchAll(HTTPMiddleware):
    """Innermost middleware: an unexpected error answers the OpenAI-shaped 500 and the
    connection stays open. (Starlette's last-resort handler answers too, but then re-raises,
    and the server closes the keep-alive connection.)"""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # a response is under way: nothing to answer with
            response = await _unexpected(Request(scope, receive), exc)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ThreadlineError, _domain_error)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
