"""Threadline's own OpenAPI document, served at `/openapi.json` (and `/docs`).

FastAPI builds it from the routers and wire models; this adds what FastAPI cannot see:
- every error is the OpenAI error object (`4XX` and `5XX`), never FastAPI's 422 (request
  validation answers 400 in that shape, `http/errors.py`);
- operations that may answer with server-sent events say so, with each event's schema
  (`streamed_responses`), and downloads carry their bytes (`DOWNLOAD`), in place of the empty JSON
  schema FastAPI gives a route without a response model;
- the bearer key every operation needs.
The suite checks every response its servers send against this document (tests/support/wire.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from threadline.schemas import Shape


def streamed_responses(
    name: str, schema: dict[str, Any], description: str
) -> dict[int | str, dict[str, Any]]:
    """The `responses` of an operation that answers with server-sent events, each event
    (its name and parsed data) described by `schema`, kept as the component `name`."""
    if Shape.components.setdefault(name, schema) != schema:
        raise TypeError(f"two event schemas are called {name}")
    return {
        200: {
            "description": description,
            "content": {"text/event-stream": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
    }


DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file's bytes, with the media type its name suggests.",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class ErrorObject(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorObject


_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}
_ERRORS = {
    "4XX": {
        "description": "The request was refused; nothing was changed.",
        "content": {"application/json": {"schema": _ERROR_REF}},
    },
    "5XX": {
        "description": "The server failed (a bug) or a backend is unavailable.",
        "content": {"application/json": {"schema": _ERROR_REF}},
    },
}


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description="A self-hosted server of the OpenAI Assistants API v2.",
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        for name, definition in Shape.components.items():
            if schemas.setdefault(name, definition) != definition:
                raise TypeError(f"a documented shape and a wire model are both called {name}")
        for model in (ErrorObject, ErrorResponse):
            schemas[model.__name__] = model.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        doc["components"]["securitySchemes"] = {"ApiKeyAuth": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"ApiKeyAuth": []}]
        for operations in doc.get("paths", {}).values():
            for operation in operations.values():
                _mend(operation["responses"])
        app.openapi_schema = doc
    return app.openapi_schema


def _mend(responses: dict[str, Any]) -> None:
    responses.pop("422", None)
    for response in responses.values():
        content = response.get("content", {})
        # FastAPI's placeholder for a route without a response model: no shape at all.
        if content.get("application/json", {}).get("schema") == {} and len(content) > 1:
            del content["application/json"]
    responses.update(_ERRORS)


def install(app: FastAPI) -> None:
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
