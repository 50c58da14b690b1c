"""Keyset pagination on (created_at, id), served from an index; never OFFSET.

A cursor is an object id. Ids encode their creation time (`threadline.ids`), so a cursor
is placed without reading its object, and it still works after that object is deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from threadline import ids
from threadline.errors import invalid

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PageQuery:
    limit: int = 20
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None
    before: str | None = None


Position = tuple[int, str]
# Where a cursor id sits, for tables whose ids do not encode their place in the list.
PositionOf = Callable[[AsyncSession, str], Awaitable[int | None]]


def _decoded(value: str, param: str) -> Position:
    created_at = ids.created_at_of(value)
    if created_at is None:
        raise invalid(f"Invalid '{param}': '{value}' is not an object id.", param=param)
    return created_at, value


def page_statement(
    model: type[T],
    where: Sequence[ColumnElement[bool]],
    page: PageQuery,
    after: Position | None = None,
    before: Position | None = None,
) -> Select[tuple[T]]:
    """The keyset query for one page, plus one row to tell whether more follow. Cursor
    positions default to those their ids encode."""
    created_at = model.created_at  # type: ignore[attr-defined]
    object_id = model.id  # type: ignore[attr-defined]
    key = tuple_(created_at, object_id)
    descending = page.order == "desc"
    conditions = list(where)
    if page.after is not None:
        cursor = tuple_(*(after or _decoded(page.after, "after")))
        conditions.append(key < cursor if descending else key > cursor)
    if page.before is not None:
        cursor = tuple_(*(before or _decoded(page.before, "before")))
        conditions.append(key > cursor if descending else key < cursor)
    ascending = descending == _backwards(page)
    ordering = (
        (created_at.asc(), object_id.asc()) if ascending else (created_at.desc(), object_id.desc())
    )
    return select(model).where(*conditions).order_by(*ordering).limit(page.limit + 1)


def _backwards(page: PageQuery) -> bool:
    # With only `before`, walk away from the cursor (the nearest rows) and flip afterwards.
    return page.before is not None and page.after is None


async def _resolve(
    session: AsyncSession, value: str | None, position_of: PositionOf | None
) -> Position | None:
    if value is None or position_of is None:
        return None
    created_at = await position_of(session, value)
    return (created_at, value) if created_at is not None else None


async def fetch_page(
    session: AsyncSession,
    model: type[T],
    where: Sequence[ColumnElement[bool]],
    page: PageQuery,
    position_of: PositionOf | None = None,
) -> tuple[list[T], bool]:
    """One page of `model` rows matching `where`, in `page.order`, and whether more follow.

    `has_more` is about the direction of travel: past the last row going forward, or
    before the first row when paging back with only `before`.
    """
    after = await _resolve(session, page.after, position_of)
    before = await _resolve(session, page.before, position_of)
    statement = page_statement(model, where, page, after, before)
    rows = list((await session.scalars(statement)).all())
    has_more = len(rows) > page.limit
    del rows[page.limit :]
    if _backwards(page):
        rows.reverse()
    return rows, has_more
