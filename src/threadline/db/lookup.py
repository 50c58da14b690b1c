"""Fetching one object that must belong where the request says it does."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from threadline.errors import not_found

T = TypeVar("T")


async def owned(session: AsyncSession, model: type[T], key: Any, kind: str, **owner: str) -> T:
    """The row of `model` with primary key `key` whose `owner` columns match, or `NotFound`
    for a `kind` (an object of another project or thread does not exist for this one)."""
    row = await session.get(model, key)
    if row is None or any(getattr(row, name) != value for name, value in owner.items()):
        raise not_found(kind, key if isinstance(key, str) else key[-1])
    return row
