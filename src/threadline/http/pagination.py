"""List query parameters and the list page object every list endpoint returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from fastapi import Query

from threadline.db.keyset import PageQuery
from threadline.schemas import Wire

T = TypeVar("T")


class ListPage(Wire, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    # Required strings in the spec, even on an empty page, where there is no id: the empty
    # string is the value every client takes (docs/architecture.md, "Empty pages").
    first_id: str
    last_id: str
    has_more: bool


def _id(item: Any) -> str:
    return item["id"] if isinstance(item, dict) else item.id


def list_page(items: Sequence[Any], has_more: bool) -> dict[str, Any]:
    """A page of rows, or of objects already in their wire form (dicts)."""
    return {
        "object": "list",
        "data": list(items),
        "first_id": _id(items[0]) if items else "",
        "last_id": _id(items[-1]) if items else "",
        "has_more": has_more,
    }


def page_query(default: int = 20, maximum: int = 100) -> Callable[..., PageQuery]:
    """A FastAPI dependency reading `limit`, `order`, `after` and `before`."""

    async def dependency(
        limit: int = Query(default, ge=1, le=maximum),
        order: Literal["asc", "desc"] = Query("desc"),
        after: str | None = Query(None),
        before: str | None = Query(None),
    ) -> PageQuery:
        return PageQuery(limit=limit, order=order, after=after or None, before=before or None)

    return dependency
