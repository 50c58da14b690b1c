"""Copy a whole deployment to another database and files directory (`threadline store copy`).

What is copied: every table of `threadline.tables` (foreign-key order, keyset batches in
primary-key order, so no table is ever held in memory), the file bytes the rows name, and
the search indexes. Embeddings are copied, never recomputed: read out of the source's
vector index (sqlite-vec's `vec0` tables, pgvector's tables, or `chunks.embedding`) and
written into the target's, bit for bit. The keyword index is the chunks' own text on
PostgreSQL (a generated `tsvector`); on SQLite the FTS5 index is rebuilt from the chunks.

Guarantees:
- The source is read in ONE read transaction (SQLite: a WAL snapshot; PostgreSQL:
  REPEATABLE READ, READ ONLY), so the copy is a consistent snapshot even while a server
  keeps writing; nothing is ever written to the source.
- The target is migrated first and must hold no rows. Every row goes in in ONE target
  transaction, committed last, after the file bytes are in place: a copy killed at any
  point leaves a target with no rows, and running the copy again starts over.
- File bytes go to a temporary name and are renamed into place, so a target file is
  either absent or whole; copying one again is harmless.
- It ends by reading the target back: rows per table, a sha256 per table over its rows'
  canonical JSON in primary-key order, a sha256 per vector width, and each file's sha256.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import JSON, Column, Table, bindparam, cast, func, select, text, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.types import Text, TypeDecorator

from threadline import tables
from threadline.db import migrate
from threadline.db.engine import create_engine
from threadline.vector_stores.index import PgVectorIndex, SqliteIndex

BATCH = 1000
CHUNK = 1024 * 1024
# Serialises copies into one PostgreSQL target: the second finds the first's rows and stops.
_COPY_LOCK = 7_411_923_025


class CopyRefused(Exception):
    """The copy cannot start (a bad source, a target that holds rows): nothing was written."""


class CopyMismatch(Exception):
    """The target, read back after the commit, differs from the source snapshot."""


@dataclass
class Digest:
    """What one side holds: rows and a sha256 per table, per vector width, per file."""

    rows: dict[str, int] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    vectors: dict[int, str] = field(default_factory=dict)
    vector_counts: dict[int, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    file_bytes: int = 0


@dataclass
class Summary:
    tables: int
    rows: int
    vectors: int
    files: int
    bytes: int
    seconds: float
    files_in_place: bool

    def line(self) -> str:
        where = " (already in place)" if self.files_in_place else ""
        return (
            f"copied {self.tables} tables, {self.rows} rows, {self.vectors} vectors, "
            f"{self.files} files{where}, {self.bytes} bytes in {self.seconds:.1f} s; verified"
        )


class Progress:
    """Lines like `messages 12000/50000`, at most `per_second` of them a second, and always
    the last of each table."""

    def __init__(self, say: Callable[[str], None], per_second: float = 4.0) -> None:
        self.say = say
        self.interval = 1.0 / per_second
        self.last = 0.0

    def __call__(self, what: str, done: int, total: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            self.say(f"{what} {done}/{total}")


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


def _canonical(table: Table, row: dict[str, Any]) -> bytes:
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


async def _batches(
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


# --- vectors ---------------------------------------------------------------------------


async def _vector_kind(connection: AsyncConnection) -> str:
    if connection.dialect.name == "sqlite":
        return "sqlite"
    has = await connection.scalar(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))
    return "pgvector" if has else "exact"


async def _vector_tables(connection: AsyncConnection, kind: str) -> list[str]:
    if kind == "sqlite":
        names = await connection.scalars(
            text("SELECT name FROM sqlite_master WHERE name GLOB 'chunk_vectors_[0-9]*' "
                 "AND type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
        )  # fmt: skip
    elif kind == "pgvector":
        names = await connection.scalars(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                 "AND tablename ~ '^chunk_vectors_[0-9]+$'")
        )  # fmt: skip
    else:
        return ["chunks"]
    return sorted(names, key=lambda name: int(name.rsplit("_", 1)[1]))


def _from_text(value: str) -> bytes:
    """pgvector's text form (`[1,2.5,...]`, each float4 written to round-trip) as float32."""
    return np.array(value.strip("[]").split(","), dtype=np.float32).tobytes()


def _as_text(vector: bytes) -> str:
    # Each float32 widened to a double prints exactly; pgvector reads it back to the same
    # float32 (the index's own 7-digit literal would round some).
    return "[" + ",".join(map(repr, np.frombuffer(vector, dtype=np.float32).tolist())) + "]"


async def _vectors(
    connection: AsyncConnection, kind: str, table: str, size: int
) -> AsyncIterator[list[tuple[int, str, bytes]]]:
    """(chunk id, store id, float32 bytes) of one vector table, in chunk-id order."""
    if kind == "sqlite":
        # Driven by `chunks` (keyset on its primary key) with a point lookup into the vec0
        # table per chunk: a vec0 table has no range scan on its key.
        query = (
            f"SELECT c.id, c.vector_store_id, v.embedding FROM chunks c JOIN {table} v "
            "ON v.chunk_id = c.id WHERE c.id > :last ORDER BY c.id LIMIT :n"
        )
    elif kind == "pgvector":
        query = (
            f"SELECT chunk_id, vector_store_id, embedding::text FROM {table} "
            "WHERE chunk_id > :last ORDER BY chunk_id LIMIT :n"
        )
    else:
        query = (
            "SELECT id, vector_store_id, embedding FROM chunks WHERE embedding IS NOT NULL "
            "AND id > :last ORDER BY id LIMIT :n"
        )
    last = -(2**31)  # below every id; within int32, the type of `chunks.id`
    while True:
        rows = (await connection.execute(text(query), {"last": last, "n": size})).all()
        if not rows:
            return
        yield [(int(i), s, _from_text(v) if isinstance(v, str) else bytes(v)) for i, s, v in rows]
        if len(rows) < size:
            return
        last = rows[-1][0]


async def _write_vectors(
    session: AsyncSession, kind: str, rows: Sequence[tuple[int, str, bytes]]
) -> None:
    """Into the target's index, exactly as read (one width per call)."""
    width = len(rows[0][2]) // 4
    if kind == "exact":
        await session.execute(
            text("UPDATE chunks SET embedding = :v WHERE id = :i"),
            [{"i": i, "v": v} for i, _, v in rows],
        )
        return
    index = SqliteIndex() if kind == "sqlite" else PgVectorIndex()
    table = await index._table(session, width)
    value = ":v" if kind == "sqlite" else "CAST(:v AS vector)"
    await session.execute(
        text(f"INSERT INTO {table}(chunk_id, vector_store_id, embedding) VALUES (:i, :s, {value})"),
        [{"i": i, "s": s, "v": v if kind == "sqlite" else _as_text(v)} for i, s, v in rows],
    )


def _vector_hash(hashes: dict[int, Any], counts: dict[int, int], rows: Sequence) -> None:
    for chunk_id, store_id, vector in rows:
        width = len(vector) // 4
        if width not in hashes:
            hashes[width] = hashlib.sha256()
            counts[width] = 0
        hashes[width].update(f"{chunk_id}:{store_id}:".encode() + vector)
        counts[width] += 1


# --- files -----------------------------------------------------------------------------


async def _file_ids(connection: AsyncConnection) -> list[str]:
    """The ids whose bytes the files directory keeps: uploaded files and container files."""
    ids = await connection.scalars(
        text("SELECT id FROM files UNION SELECT id FROM container_files ORDER BY 1")
    )
    return list(ids)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _copy_file(source: Path, target: Path) -> tuple[str, int]:
    """Copy to a temporary name beside `target`, then rename: `target` is whole or absent."""
    temporary = target.with_name(f".copy-{target.name}")
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as reader, temporary.open("wb") as writer:
            while block := reader.read(CHUNK):
                digest.update(block)
                writer.write(block)
                size += len(block)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


# --- the copy --------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    return (
        Path(parsed.database) if parsed.get_backend_name() == "sqlite" and parsed.database else None
    )


def default_target_files(target_url: str, source_files: Path) -> Path:
    """A SQLite target's `files` beside its database (where `serve --data-dir` looks); a
    PostgreSQL target's is the source's, which then needs no copy."""
    path = _sqlite_path(target_url)
    return path.parent / "files" if path is not None else source_files


def copy_store(
    source_url: str,
    target_url: str,
    source_files: Path,
    target_files: Path,
    say: Callable[[str], None],
    batch: int = BATCH,
) -> Summary:
    """Copy, then verify; raises CopyRefused before writing anything when it cannot start,
    CopyMismatch when the read-back differs."""
    if make_url(source_url) == make_url(target_url):
        raise CopyRefused("the source and the target are the same database")
    path = _sqlite_path(source_url)
    if path is not None and not path.is_file():
        raise CopyRefused(f"no SQLite database at {path}")
    asyncio.run(_check_source(source_url))
    migrate.upgrade(target_url)
    return asyncio.run(_copy(source_url, target_url, source_files, target_files, say, batch))


async def _check_source(source_url: str) -> None:
    engine = create_engine(source_url)
    try:
        async with engine.connect() as connection:
            from alembic.runtime.migration import MigrationContext

            revision = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
    if revision != migrate.head():
        raise CopyRefused(
            f"the source is at schema {revision or 'none'}, not {migrate.head()}: run "
            "`threadline db upgrade` on it first (with this version of Threadline)"
        )


async def _empty(connection: AsyncConnection) -> str | None:
    """The first table holding rows, or None."""
    for table in tables.Base.metadata.sorted_tables:
        if await connection.scalar(select(1).select_from(table).limit(1)) is not None:
            return table.name
    return None


async def _copy(
    source_url: str,
    target_url: str,
    source_files: Path,
    target_files: Path,
    say: Callable[[str], None],
    size: int,
) -> Summary:
    started = time.monotonic()
    progress = Progress(say)
    source_engine = create_engine(source_url)
    target_engine = create_engine(target_url)
    digest = Digest()
    in_place = source_files.resolve() == target_files.resolve()
    try:
        source = await source_engine.connect()
        if source.dialect.name == "postgresql":
            source = await source.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        target = await target_engine.connect()
        try:
            # Both transactions stay open to the end: the source's is the snapshot, the
            # target's commits everything at once.
            async with source.begin(), target.begin():
                postgres = target.dialect.name == "postgresql"
                if postgres:
                    await target.execute(text(f"SELECT pg_advisory_xact_lock({_COPY_LOCK})"))
                busy = await _empty(target)
                if busy is not None:
                    raise CopyRefused(
                        f"the target already holds rows (in {busy}); copy only into an empty "
                        "database"
                    )
                await _copy_files(source, source_files, target_files, in_place, digest, say)
                for table in tables.Base.metadata.sorted_tables:
                    await _copy_table(source, target, table, postgres, size, digest, progress)
                await _copy_vectors(source, target, size, digest, progress)
                if not postgres:
                    # FTS5 over the chunks' text, made from the rows just written.
                    await target.execute(
                        text("INSERT INTO chunk_fts(chunk_fts) VALUES ('rebuild')")
                    )
                else:
                    await _advance_sequences(target)
                say("committing")
        finally:
            await target.close()
            await source.close()
        if target_engine.dialect.name == "postgresql":
            # Keyword search reads the planner's statistics on chunks (PgKeywords).
            async with target_engine.connect() as connection:
                await connection.execute(text("ANALYZE"))
                await connection.commit()
        say("verifying")
        await _verify(target_engine, target_files, digest, size)
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    return Summary(
        tables=len(digest.tables),
        rows=sum(digest.rows.values()),
        vectors=sum(digest.vector_counts.values()),
        files=len(digest.files),
        bytes=digest.file_bytes,
        seconds=time.monotonic() - started,
        files_in_place=in_place,
    )


async def _copy_files(
    source: AsyncConnection,
    source_files: Path,
    target_files: Path,
    in_place: bool,
    digest: Digest,
    say: Callable[[str], None],
) -> None:
    """Before any row is committed: rows never name bytes that are not there."""
    ids = await _file_ids(source)
    target_files.mkdir(parents=True, exist_ok=True)
    for file_id in ids:
        origin = source_files / file_id
        if not origin.is_file():
            say(f"warning: {file_id} has no bytes in {source_files}; its row is copied alone")
            continue
        if in_place:
            digest.files[file_id] = await asyncio.to_thread(_sha256, origin)
            digest.file_bytes += origin.stat().st_size
            continue
        sha, size = await asyncio.to_thread(_copy_file, origin, target_files / file_id)
        digest.files[file_id] = sha
        digest.file_bytes += size
    say(f"files {len(digest.files)}/{len(ids)} ({digest.file_bytes} bytes)")


async def _copy_table(
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
    async for rows in _batches(source, table, size):
        if table.name == "chunks":
            for row in rows:
                row["embedding"] = None  # vectors go through the target's index
        for row in rows:
            hasher.update(_canonical(table, row) + b"\n")
        await target.execute(statement, rows)
        done += len(rows)
        progress(table.name, done, total)
    progress(table.name, done, total, final=True)
    digest.rows[table.name] = done
    digest.tables[table.name] = hasher.hexdigest()


async def _copy_vectors(
    source: AsyncConnection, target: AsyncConnection, size: int, digest: Digest, progress: Progress
) -> None:
    source_kind = await _vector_kind(source)
    target_kind = await _vector_kind(target)
    hashes: dict[int, Any] = {}
    session = AsyncSession(bind=target)
    try:
        for name in await _vector_tables(source, source_kind):
            total = await source.scalar(text(f"SELECT count(*) FROM {name}")) or 0
            if source_kind == "exact":
                total = await source.scalar(
                    text("SELECT count(*) FROM chunks WHERE embedding IS NOT NULL")
                )
            done = 0
            async for rows in _vectors(source, source_kind, name, size):
                _vector_hash(hashes, digest.vector_counts, rows)
                by_width: dict[int, list[tuple[int, str, bytes]]] = {}
                for row in rows:
                    by_width.setdefault(len(row[2]), []).append(row)
                for group in by_width.values():
                    await _write_vectors(session, target_kind, group)
                done += len(rows)
                progress(f"vectors ({name})", done, total or 0)
            progress(f"vectors ({name})", done, total or 0, final=True)
    finally:
        await session.close()
    digest.vectors = {width: hasher.hexdigest() for width, hasher in hashes.items()}


async def _advance_sequences(target: AsyncConnection) -> None:
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


async def _verify(engine: Any, target_files: Path, expected: Digest, size: int) -> None:
    problems: list[str] = []
    async with engine.connect() as connection:
        for table in tables.Base.metadata.sorted_tables:
            hasher = hashlib.sha256()
            count = 0
            async for rows in _batches(connection, table, size):
                for row in rows:
                    hasher.update(_canonical(table, row) + b"\n")
                count += len(rows)
            if count != expected.rows[table.name]:
                problems.append(f"{table.name}: {count} rows, not {expected.rows[table.name]}")
            elif hasher.hexdigest() != expected.tables[table.name]:
                problems.append(f"{table.name}: the rows differ (sha256)")
        kind = await _vector_kind(connection)
        hashes: dict[int, Any] = {}
        counts: dict[int, int] = {}
        for name in await _vector_tables(connection, kind):
            async for rows in _vectors(connection, kind, name, size):
                _vector_hash(hashes, counts, rows)
        if {w: h.hexdigest() for w, h in hashes.items()} != expected.vectors:
            problems.append(f"vectors differ: {counts} here, {expected.vector_counts} copied")
        if connection.dialect.name == "sqlite":
            try:
                await connection.execute(
                    text("INSERT INTO chunk_fts(chunk_fts, rank) VALUES ('integrity-check', 1)")
                )
            except Exception as error:  # the keyword index disagrees with the chunks
                problems.append(f"keyword index: {error}")
            await connection.rollback()
    for file_id, sha in expected.files.items():
        path = target_files / file_id
        if not path.is_file():
            problems.append(f"file {file_id}: missing in {target_files}")
        elif await asyncio.to_thread(_sha256, path) != sha:
            problems.append(f"file {file_id}: the bytes differ (sha256)")
    if problems:
        raise CopyMismatch("; ".join(problems))
