"""What neither store can keep, refused where it enters: NUL characters (PostgreSQL's text
cannot hold them) and lone surrogates (they have no UTF-8 form, so SQLite stores a row that
no read can decode). One check for every string that comes in: path and query parameters
and JSON bodies here, in a middleware before any route; multipart form fields through
`check_text`, where the upload is parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from threadline.http.errors import error_body
from threadline.http.middleware import HTTPMiddleware, send_json
from threadline.text import message, problem

# A JSON escape of NUL or of a surrogate (every backslash in JSON starts an escape, so
# scanning escapes left to right sees each one as the parser does).
_ESCAPE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


def _json_may_hold_bad_text(body: bytes) -> bool:
    """Whether a JSON body escapes a NUL or a surrogate (raw ones are invalid JSON)."""
    if b"\\u" not in body:
        return False
    for match in _ESCAPE.finditer(body):
        code = (match.group(1) or b"").lower()
        if code == b"0000" or (code[:1] == b"d" and code[1:2] in b"89abcdef"):
            return True
    return False


def _walk(value: Any, param: str) -> Iterator[tuple[str, str]]:
    """(param, what) for each unstorable string in a JSON value, keys included."""
    if isinstance(value, str):
        what = problem(value)
        if what:
            yield param, what
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{param}.{key}" if param else str(key)
            what = problem(key)
            if what:
                yield where, what
            yield from _walk(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{param}[{index}]")


class StorableInput(HTTPMiddleware):
    """A request whose path, query or JSON body carries a string neither store can keep gets
    a 400 naming the parameter, before any route runs."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._in_path(scope) or self._in_query(scope)
        if found is None and _is_json(scope):
            body, receive = await _buffered(receive)
            if _json_may_hold_bad_text(body):
                found = self._in_body(body)
        if found is not None:
            param, what = found
            body = error_body(message(param or "body", what), param=param or None)
            await send_json(send, 400, body)
            return
        await self.app(scope, receive, send)

    def _in_path(self, scope: Scope) -> tuple[str, str] | None:
        what = problem(scope["path"])
        if what is None:
            return None
        return _path_parameter(scope, scope["path"]) or "path", what

    def _in_query(self, scope: Scope) -> tuple[str, str] | None:
        query = scope.get("query_string", b"").decode("latin-1")
        if not query:
            return None
        for key, value in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
            for text in (key, value):
                what = problem(text)
                if what:
                    return key, what
        return None

    def _in_body(self, body: bytes) -> tuple[str, str] | None:
        try:
            parsed = json.loads(body)
        except ValueError:
            return None  # the route answers malformed JSON
        return next(_walk(parsed, ""), None)


def _path_parameter(scope: Scope, path: str) -> str | None:
    """The name of the path parameter in which `path` goes wrong, by the app's routes as its
    OpenAPI document lists them (`/v1/threads/{thread_id}`)."""
    app = scope.get("app")
    if app is None or not hasattr(app, "openapi"):
        return None
    segments = path.split("/")
    for template in app.openapi().get("paths", {}):
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        if all(p == s or p.startswith("{") for p, s in zip(parts, segments, strict=True)):
            for part, segment in zip(parts, segments, strict=True):
                if part.startswith("{") and problem(segment):
                    return part.strip("{}")
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return b"json" in value.lower()
    return False


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that hands it on as it came."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return body, replay
