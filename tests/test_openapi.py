"""Threadline's own OpenAPI document: served without a key, with the interactive docs, the
one the fuzzing walks, and true to the wire (every response the fixtures' clients receive
is checked against it: tests/support/wire.py; here, that the check bites)."""

from __future__ import annotations

import json
from typing import Any, get_args

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.server import Server
from tests.support.wire import CheckedEvents, Document, WireMismatch
from threadline.app import create_app
from threadline.config import Settings
from threadline.runs.schemas import Include

# Operations that answer with server-sent events, always or with `stream: true`.
STREAMING = {
    ("post", "/v1/threads/runs"),
    ("post", "/v1/threads/{thread_id}/runs"),
    ("post", "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"),
    ("get", "/v1/threads/{thread_id}/runs/{run_id}/events"),
    ("post", "/v1/responses"),
    ("get", "/v1/responses/{response_id}"),
}


def test_the_document_is_served_and_is_the_apps(
    openapi_document: dict[str, Any], server: Server
) -> None:
    assert openapi_document["openapi"].startswith("3.1")
    validate(openapi_document)  # a valid OpenAPI 3.1 document, for the tools that read one
    # The fuzzing builds the document in-process for collection: it must be this one.
    assert openapi_document == create_app(Settings(embedded=False)).openapi()
    docs = httpx.get(f"{server.origin}/docs", timeout=30)
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_every_operation_documents_its_answers(openapi_document: dict[str, Any]) -> None:
    operations = [
        (method, path, operation)
        for path, methods in openapi_document["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 48
    assert all(path.startswith("/v1/") for _, path, _ in operations)
    for method, path, operation in operations:
        responses = operation["responses"]
        assert "422" not in responses, (method, path)  # validation answers 400
        for errors in ("4XX", "5XX"):
            schema = responses[errors]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
        kinds = set(responses["200"]["content"])
        assert ("text/event-stream" in kinds) == ((method, path) in STREAMING), (method, path)
        for kind in kinds:
            # No placeholder: each answer has a shape.
            assert responses["200"]["content"][kind]["schema"] != {}, (method, path, kind)
    steps = openapi_document["paths"]["/v1/threads/{thread_id}/runs/{run_id}/steps"]["get"]
    include = next(p for p in steps["parameters"] if p["name"] == "include[]")
    assert include["schema"]["items"]["enum"] == list(get_args(Include))
    assert openapi_document["security"] == [{"ApiKeyAuth": []}]


def test_the_wire_check_bites(openapi_document: dict[str, Any]) -> None:
    """The check every client hook runs refuses what the document does not allow."""
    document = Document(openapi_document)
    deleted = {"id": "asst_1", "object": "assistant.deleted", "deleted": True}
    document.check("DELETE", "/v1/assistants/asst_1", 200, "application/json", deleted)
    for wrong in (
        {**deleted, "extra": 1},  # a key the document does not name
        {**deleted, "deleted": None},  # a null it does not allow
        {"id": "asst_1", "object": "assistant.deleted"},  # a required key missing
    ):
        with pytest.raises(WireMismatch):
            document.check("DELETE", "/v1/assistants/asst_1", 200, "application/json", wrong)
    error = {"error": {"message": "No.", "type": "invalid_request_error", "param": None}}
    with pytest.raises(WireMismatch):  # `code` is required, null or not
        document.check("GET", "/v1/assistants", 404, "application/json", error)
    with pytest.raises(WireMismatch):  # a stream where the operation has none
        document.check("GET", "/v1/assistants", 200, "text/event-stream", None)
    # A download's bytes come with the media type of the file's name, whatever it is.
    for media in ("text/plain", "application/json", "image/png"):
        document.check("GET", "/v1/files/file-1/content", 200, media, None)
    with pytest.raises(WireMismatch):
        document.check("GET", "/v1/no_such_thing", 200, "application/json", {})
    # An unknown URL or method answers an error, in the error's shape.
    unknown = {"error": {**error["error"], "code": None}}
    document.check("GET", "/v1/no_such_thing", 404, "application/json", unknown)
    with pytest.raises(WireMismatch):
        document.check("PUT", "/v1/assistants", 405, "application/json", {"detail": "no"})
    # A model name may hold a slash; the document's `{model}` takes it.
    model = {"id": "org/name", "object": "model", "created": 1, "owned_by": "x"}
    document.check("GET", "/v1/models/org/name", 200, "application/json", model)


def test_the_event_check_bites(openapi_document: dict[str, Any]) -> None:
    """Each event of a stream is checked as the client reads past it."""
    document = Document(openapi_document)
    path = "/v1/threads/thread_1/runs/run_1/events"

    def read(*frames: bytes) -> list[bytes]:
        def check(event: Any) -> None:
            document.check("GET", path, 200, "text/event-stream", event)

        return list(CheckedEvents(httpx.ByteStream(b"".join(frames)), check))

    part = {"index": 0, "type": "text", "text": {"value": "Hi"}}
    delta = {"id": "msg_1", "object": "thread.message.delta", "delta": {"content": [part]}}
    good = b"event: thread.message.delta\ndata: " + json.dumps(delta).encode() + b"\n\n"
    done = b": keep-alive\nevent: done\ndata: [DONE]\n\n"
    assert read(good, done) == [good + done]
    for wrong in (
        {**delta, "extra": 1},
        {**delta, "delta": {"content": [{"index": 0, "type": "text", "text": {}}]}},
    ):
        frame = b"event: thread.message.delta\ndata: " + json.dumps(wrong).encode() + b"\n\n"
        with pytest.raises(WireMismatch):
            read(frame)
    with pytest.raises(WireMismatch):  # an event the stream has not
        read(b"event: thread.message.removed\ndata: " + json.dumps(delta).encode() + b"\n\n")
