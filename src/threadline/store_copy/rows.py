"""The rows of a copy: every table read in keyset batches in primary-key order, written
into the target as read (JSON columns as their text), and hashed as canonical JSON; then
PostgreSQL's id sequences moved past the copied ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import JSON, Column, Table, bindparam, cast, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Text, TypeDecorator

from threadline import tables
from threadline.store_copy.digest import Digest
from threadline.store_copy.progress import Progress


class _RawJson(TypeDecorator[str]):
    """A JSON column bound as the text it holds: a SQL NULL stays NULL and JSON `null`
    stays `null` (the JSON type would turn both into one or the other)."""

    impl = Text
    cache_ok = True


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _columns(table: Table) -> list[Column[Any]]:
    return list(table.columns)


def _pk(table: Table) -> list[Column[Any]]:
    return list(table.primary_key.columns)


def _select(table: Table) -> Any:
    """The table's columns, JSON ones as their text."""
    return [
        cast(column, Text).label(column.name) if _is_json(column) else column
        for column in _columns(table)
    ]


def _insert(table: Table, postgres: bool) -> Any:
    values: dict[str, Any] = {}
    for column in _columns(table):
        if _is_json(column):
            raw = bindparam(column.name, type_=_RawJson())
            values[column.name] = cast(raw, JSONB) if postgres else raw
        else:
            values[column.name] = bindparam(column.name, type_=column.type)
    return table.insert().values(values)


def canonical(table: Table, row: dict[str, Any]) -> bytes:
    """One row as canonical JSON: the same bytes for the same row on either backend."""
    out: dict[str, Any] = {}
    for column in _columns(table):
        value = row[column.name]
        if table.name == "chunks" and column.name == "embedding":
            continue  # the vector, where kept here, is checked with the index's
        if value is not None and _is_json(column):
            value = {"json": json.loads(value)}  # not confused with a SQL NULL
        elif isinstance(value, bytes):
            value = {"hex": value.hex()}
        out[column.name] = value
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


async def batches(
    connection: AsyncConnection, table: Table, size: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The table's rows in primary-key order, `size` at a time (keyset: each batch starts
    after the last key of the one before, so no batch costs more than its own rows)."""
    pk = _pk(table)
    key = tuple_(*pk) if len(pk) > 1 else pk[0]
    last: Any = None
    while True:
        query = select(*_select(table)).order_by(*pk).limit(size)
        if last is not None:
            query = query.where(key > (tuple_(*last) if len(pk) > 1 else last))
        rows = [dict(row._mapping) for row in await connection.execute(query)]
        if not rows:
            return
        yield rows
        if len(rows) < size:
            return
        last_row = rows[-1]
        last = tuple(last_row[c.name] for c in pk) if len(pk) > 1 else last_row[pk[0].name]


async def copy_table(
    source: AsyncConnection,
    target: AsyncConnection,
    table: Table,
    postgres: bool,
    size: int,
    digest: Digest,
    progress: Progress,
) -> None:
    total = await source.scalar(select(func.count()).select_from(table)) or 0
    statement = _insert(table, postgres)
    hasher = hashlib.sha256()
    done = 0
    async for rows in batches(source, table, size):
        if table.name == "chunks":
            for row in rows:
                row["embedding"] = None  # vectors go through the target's index
        for row in rows:
            hasher.update(canonical(table, row) + b"\n")
        await target.execute(statement, rows)
        done += len(rows)
        progress(table.name, done, total)
    progress(table.name, done, total, final=True)
    digest.rows[table.name] = done
    digest.tables[table.name] = hasher.hexdigest()


async def advance_sequences(target: AsyncConnection) -> None:
    """Rows came with their ids: start PostgreSQL's id sequences after the largest."""
    for table in tables.Base.metadata.sorted_tables:
        pk = _pk(table)
        if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and pk[0].type.python_type is int:
            name = pk[0].name
            await target.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{name}'), "
                    f"coalesce(max({name}), 1), max({name}) IS NOT NULL) FROM {table.name}"
                )
            )
