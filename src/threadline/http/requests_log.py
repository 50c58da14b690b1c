"""Each request's id, timing and log line.

Every response carries `x-request-id` (a sane incoming one is kept, otherwise a new
`req_...`, as the hosted API sent and the official SDKs surface as `_request_id`) and
`openai-processing-ms`. The id is in every log line of the request and of the run it
starts; the request's own line says method, route, status, duration and project (never a
key or a message text).
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import Message, Receive, Scope, Send

from threadline import metrics
from threadline.http.middleware import HTTPMiddleware
from threadline.logs import request_id

log = logging.getLogger("threadline.http")

API_PREFIX = "/v1"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_ID.match(text) else None
    return None


def _route_of(scope: Scope) -> str:
    """The route's template (`/v1/threads/{thread_id}`), not the ids in the path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template is None:
        return "(unrouted)"
    # An included router's route knows its path without the prefix it was included under.
    if scope["path"].startswith(API_PREFIX + "/") and not template.startswith(API_PREFIX):
        template = API_PREFIX + template
    return template


class RequestsLog(HTTPMiddleware):
    """Outermost middleware: the id is set before anything else runs."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = _incoming_id(scope) or f"req_{secrets.token_hex(16)}"
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def stamped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                elapsed = int((time.perf_counter() - started) * 1000)
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                headers.append((b"openai-processing-ms", str(elapsed).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, stamped_send)
        finally:
            route, seconds = _route_of(scope), time.perf_counter() - started
            metrics.HTTP_REQUESTS.labels(route, str(status)).inc()
            metrics.HTTP_DURATION.labels(route).observe(seconds)
            state = scope.get("state") or {}
            log.info(
                "%s %s %s",
                scope["method"],
                _route_of(scope),
                status,
                extra={
                    "method": scope["method"],
                    "path": _route_of(scope),
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "project": state.get("project_id"),
                },
            )
            request_id.reset(token)
