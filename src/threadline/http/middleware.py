"""What Threadline's pure ASGI middlewares share: acting on HTTP requests only, and
answering a JSON error before any route runs."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


class HTTPMiddleware(ABC):
    """Pure ASGI middleware: `handle` sees HTTP requests; everything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None: ...


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A JSON answer written straight to the ASGI `send`. Client errors are final: the SDKs
    are told not to retry them."""
    data = json.dumps(body).encode()
    final = [(b"x-should-retry", b"false")] if 400 <= status < 500 and status != 429 else []
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *final,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
