"""Every response a test receives, checked against the server's own OpenAPI document.

The clients the fixtures make (`client`, `http`, `make_client`) carry `check_response` as
an httpx response hook (`HOOKS`): each JSON answer must validate against the schema the
document gives its operation and status, strictly: an object schema that lists properties
admits no others, so a key the document does not name fails as surely as a wrong type or a
`null` it does not allow. Each event of a stream is checked the same way as the client reads
past it; a download's media type must be one the operation lists (or a range holding it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import httpx
from jsonschema import Draft202012Validator


class WireMismatch(AssertionError):
    pass


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to any others."""
    if isinstance(schema, dict):
        schema = {key: closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


class Document:
    """An OpenAPI document, ready to look up operations and validate their responses."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.components = closed(doc.get("components", {}).get("schemas", {}))
        # Validators by the id of their schema: every schema is held here for as long.
        self.validators: dict[int, Draft202012Validator] = {}
        error = {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
        self.error_response = {"content": {"application/json": error}}
        # Each operation's path as a pattern whose parameters span one segment, and as one
        # whose last parameter may span several (`GET /models/{model}` of `org/name`).
        self.operations: list[tuple[re.Pattern[str], re.Pattern[str], str, dict[str, Any]]] = []
        for template, methods in doc.get("paths", {}).items():
            parts = [re.escape(part) for part in re.split(r"\{[^}]+\}", template)]
            strict = re.compile("[^/]+".join(parts))
            loose = (
                re.compile("[^/]+".join(parts[:-1]) + ".+" + parts[-1])
                if len(parts) > 1
                else strict
            )
            for method, operation in methods.items():
                self.operations.append((strict, loose, method.upper(), operation))

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        for which in (0, 1):
            for *patterns, verb, operation in self.operations:
                if verb == method and patterns[which].fullmatch(path):
                    return operation
        return None

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        # One per response schema of the document (they live as long as it does).
        key = id(schema)
        if key not in self.validators:
            # References name components by their place in the document: keep them there.
            root = {**closed(schema), "components": {"schemas": self.components}}
            self.validators[key] = Draft202012Validator(root)
        return self.validators[key]

    def schema(self, method: str, path: str, status: int, media: str) -> tuple[str, Any]:
        """The media type the document lists for this answer (`media` itself or a range such
        as `*/*` that holds it) with its schema; `WireMismatch` when it lists none."""
        where = f"{method} {path} -> {status}"
        operation = self.operation(method, path)
        if operation is None:
            # No such operation (an unknown URL, a method the path has not): an error.
            if status < 400:
                raise WireMismatch(f"{where}: no such operation in the OpenAPI document")
            operation = {"responses": {"default": self.error_response}}
        responses = operation.get("responses", {})
        response = (
            responses.get(str(status))
            or responses.get(f"{str(status)[0]}XX")
            or responses.get("default")
        )
        if response is None:
            raise WireMismatch(f"{where}: the document lists no response {status}")
        content = response.get("content", {})
        for listed in (media, f"{media.split('/')[0]}/*", "*/*"):
            if listed in content:
                return listed, content[listed].get("schema", {})
        raise WireMismatch(f"{where}: {media or 'no body'} is not among {sorted(content)}")

    def check(self, method: str, path: str, status: int, media: str, body: Any) -> None:
        """A JSON body (or, for a stream, one event: `{"event", "data"}`) against its schema;
        for a media range (a download's bytes), only that the range holds the type."""
        listed, schema = self.schema(method, path, status, media)
        if listed not in ("application/json", "text/event-stream"):
            return
        errors = sorted(self.validator(schema).iter_errors(body), key=lambda e: list(e.path))
        if errors:
            lines = [f"  at {'/'.join(map(str, e.path)) or '(top)'}: {e.message[:300]}"
                     for e in errors[:8]]  # fmt: skip
            what = f"the event {body.get('event')}" if media == "text/event-stream" else "the body"
            raise WireMismatch(
                f"{method} {path} -> {status}: {what} does not fit the document\n"
                + "\n".join(lines)
            )


class CheckedEvents(httpx.SyncByteStream):
    """A server-sent event stream that checks each event as the client reads past it, so
    that a test reading part of a stream (and leaving) reads it as it would have."""

    def __init__(self, inner: httpx.SyncByteStream, check: Callable[[Any], None]) -> None:
        self.inner = inner
        self.check = check
        self.pending = b""

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.pending += chunk
            while b"\n\n" in self.pending:
                frame, self.pending = self.pending.split(b"\n\n", 1)
                self.frame(frame.decode())
            yield chunk

    def frame(self, text: str) -> None:
        fields: dict[str, list[str]] = {}
        for line in text.split("\n"):
            if line and not line.startswith(":"):  # a comment: a keep-alive
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value.removeprefix(" "))
        if "event" in fields or "data" in fields:
            data = "\n".join(fields.get("data", []))
            event = fields.get("event", ["message"])[0]
            self.check({"event": event, "data": data if data == "[DONE]" else json.loads(data)})

    def close(self) -> None:
        self.inner.close()


@cache
def document_of(origin: str) -> Document:
    return Document(httpx.get(f"{origin}/openapi.json", timeout=30).json())


def check_response(response: httpx.Response) -> None:
    """An httpx response hook: the answer against its server's document."""
    request = response.request
    path = request.url.path
    if not path.startswith("/v1/") or request.method == "HEAD":
        return  # the console's pages, health and metrics: not the API; HEAD has no body
    origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
    document = document_of(origin)
    media = response.headers.get("content-type", "").split(";")[0].strip()
    status = response.status_code
    listed, _ = document.schema(request.method, path, status, media)
    if listed == "text/event-stream":

        def check(event: Any) -> None:
            document.check(request.method, path, status, media, event)

        response.stream = CheckedEvents(response.stream, check)  # type: ignore[arg-type]
        return
    body: Any = None
    if listed == "application/json":
        response.read()
        body = response.json()
    document.check(request.method, path, status, media, body)


HOOKS = {"response": [check_response]}
