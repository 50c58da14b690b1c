"""Request body limits, answered with an OpenAI-shaped 413 before the body is read."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadline.http.errors import error_body
from threadline.http.middleware import HTTPMiddleware, send_json


class BodyTooLarge(BaseException):
    """A BaseException so that FastAPI's body parsing cannot turn it into a 400."""


class BodyLimit(HTTPMiddleware):
    """`limit_for(path)` gives the byte limit of a request."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        super().__init__(app)
        self.limit_for = limit_for

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject(send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _reject(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send: Send, limit: int) -> None:
    body = error_body(
        f"Request body too large. The maximum size is {limit} bytes.", code="request_too_large"
    )
    # The rest of the body is never read: the connection cannot carry another request.
    await send_json(send, 413, body, [(b"connection", b"close")])
