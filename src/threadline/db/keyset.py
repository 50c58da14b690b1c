"""Keyset pagination on (created_at, id), served from an index; never OFFSET.

A cursor is an object id. Ids encode their creation time (`threadline.ids`), so a cursor
is placed without reading its object, and it still works after that object is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.http.errors import invalid

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


def _cursor(value: str, param: str) -> tuple[int, str]:
    created_at = ids.created_at_of(value)
    if created_at is None:
        raise invalid(f"Invalid '{param}': '{value}' is not an object id.", param=param)
    return created_at, value


def page_statement(
    model: type[T], where: Sequence[ColumnElement[bool]], page: PageQuery
) -> Select[tuple[T]]:
    """The keyset query for one page, plus one row to tell whether more follow."""
    created_at = model.created_at  # type: ignore[attr-defined]
    object_id = model.id  # type: ignore[attr-defined]
    key = tuple_(created_at, object_id)
    descending = page.order == "desc"
    conditions = list(where)
    if page.after is not None:
        cursor = tuple_(*_cursor(page.after, "after"))
        conditions.append(key < cursor if descending else key > cursor)
    if page.before is not None:
        cursor = tuple_(*_cursor(page.before, "before"))
        conditions.append(key > cursor if descending else key < cursor)
    ascending = descending == _backwards(page)
    ordering = (
        (created_at.asc(), object_id.asc()) if ascending else (created_at.desc(), object_id.desc())
    )
    return select(model).where(*conditions).order_by(*ordering).limit(page.limit + 1)


def _backwards(page: PageQuery) -> bool:
    # With only `before`, walk away from the cursor (the nearest rows) and flip afterwards.
    return page.before is not None and page.after is None


async def fetch_page(
    session: AsyncSession,
    model: type[T],
    where: Sequence[ColumnElement[bool]],
    page: PageQuery,
) -> tuple[list[T], bool]:
    """One page of `model` rows matching `where`, in `page.order`, and whether more follow.

    `has_more` is about the direction of travel: past the last row going forward, or
    before the first row when paging back with only `before`.
    """
    rows = list((await session.scalars(page_statement(model, where, page))).all())
    has_more = len(rows) > page.limit
    del rows[page.limit :]
    if _backwards(page):
        rows.reverse()
    return rows, has_more
