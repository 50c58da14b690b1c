"""Array query parameters in every encoding clients use."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError


def query_array(name: str, item: Any) -> Callable[[Request], Awaitable[list[Any] | None]]:
    """A FastAPI dependency reading the array query parameter `name` however it is spelled:
    `name[]=a&name[]=b` (the official SDKs), `name[0]=a&name[1]=b` (PHP's
    `http_build_query`), `name=a&name=b` or a single `name=a`, or a mix, in the order given.
    Each value is validated as `item`; an error names `name[i]`, `i` its position among
    them. None when the parameter is absent."""
    adapter = TypeAdapter(list[item])
    spelled = re.compile(rf"{re.escape(name)}(?:\[\d*\])?")

    async def dependency(request: Request) -> list[Any] | None:
        values = [
            value for key, value in request.query_params.multi_items() if spelled.fullmatch(key)
        ]
        if not values:
            return None
        try:
            return adapter.validate_python(values)
        except ValidationError as error:
            raise RequestValidationError(
                [{**e, "loc": ("query", name, *e["loc"])} for e in error.errors()]
            ) from None

    return dependency


def documented_array(name: str, item: Any, description: str) -> dict[str, Any]:
    """The OpenAPI `openapi_extra` naming the array query parameter `query_array` reads, as
    the official SDKs spell it (`name[]`): a dependency that reads the request itself is
    invisible to FastAPI's document."""
    schema = TypeAdapter(list[item]).json_schema()
    parameter = {
        "name": f"{name}[]",
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        "style": "form",
        "explode": True,
    }
    return {"parameters": [parameter]}
