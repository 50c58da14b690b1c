"""Copy a whole deployment to another database and files directory (`threadline store copy`).

What is copied: every table of `threadline.tables` (foreign-key order, keyset batches in
primary-key order, so no table is ever held in memory), the file bytes the rows name, and
the search indexes. Embeddings are copied, never recomputed: read out of the source's
vector index (sqlite-vec's `vec0` tables, pgvector's tables, or `chunks.embedding`) and
written into the target's, bit for bit. The keyword index is the chunks' own text on
PostgreSQL (a generated `tsvector`); on SQLite the FTS5 index is rebuilt from the chunks.

Guarantees:
- The source is read in ONE transaction and nothing is ever written to it. By default it
  is also held read-only until the copy has committed (SQLite: the transaction takes the
  write lock, `BEGIN IMMEDIATE`; PostgreSQL: `LOCK TABLE ... IN EXCLUSIVE MODE`, which
  lets reads through): a server still serving it answers reads and its writes wait, so
  nothing written during the copy can be left behind. With `snapshot=True` the source
  keeps taking writes and the copy is the consistent snapshot its transaction sees (SQLite:
  a WAL snapshot; PostgreSQL: REPEATABLE READ, READ ONLY), leaving later writes behind.
- The target is migrated first and must hold no rows. Every row goes in in ONE target
  transaction, committed last, after the file bytes are in place: a copy killed at any
  point leaves a target with no rows, and running the copy again starts over.
- File bytes go to a temporary name and are renamed into place, so a target file is
  either absent or whole; copying one again is harmless.
- A target that already holds rows is refused, unless it holds exactly what the source
  holds (a copy killed after its commit, while verifying): then it is verified again.
- It ends by reading the target back: rows per table, a sha256 per table over its rows'
  canonical JSON in primary-key order, a sha256 per vector width, and each file's sha256.

This module holds the copy's course (`copy_store`: the checks, the two transactions, the
summary); its parts are in `rows`, `vectors`, `files` and `verify`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from threadline import tables
from threadline.db import migrate
from threadline.db.engine import IMMEDIATE, create_engine
from threadline.store_copy.digest import Digest
from threadline.store_copy.files import copy_files
from threadline.store_copy.progress import Progress
from threadline.store_copy.rows import advance_sequences, copy_table
from threadline.store_copy.vectors import copy_vectors, vector_kind, vector_tables
from threadline.store_copy.verify import differences, hash_files, read_digest, verify

BATCH = 1000
# Serialises copies into one PostgreSQL target: the second finds the first's rows and stops.
_COPY_LOCK = 7_411_923_025


class CopyRefused(Exception):
    """The copy cannot start (a bad source, a target that holds rows): nothing was written."""


@dataclass
class Summary:
    tables: int
    rows: int
    vectors: int
    files: int
    bytes: int
    seconds: float
    files_in_place: bool
    snapshot: bool
    already: bool = False

    @classmethod
    def of(
        cls, digest: Digest, seconds: float, in_place: bool, snapshot: bool, already: bool = False
    ) -> Summary:
        return cls(
            tables=len(digest.tables),
            rows=sum(digest.rows.values()),
            vectors=sum(digest.vector_counts.values()),
            files=len(digest.files),
            bytes=digest.file_bytes,
            seconds=seconds,
            files_in_place=in_place,
            snapshot=snapshot,
            already=already,
        )

    def line(self) -> str:
        where = " (already in place)" if self.files_in_place else ""
        what = (
            f"{self.tables} tables, {self.rows} rows, {self.vectors} vectors, "
            f"{self.files} files{where}, {self.bytes} bytes"
        )
        if self.already:
            return f"the target already held a copy of the source ({what}); verified"
        source = (
            "a snapshot of the source (writes made during the copy are not in it)"
            if self.snapshot
            else "the source held read-only throughout"
        )
        return f"copied {what} in {self.seconds:.1f} s from {source}; verified"


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
    snapshot: bool = False,
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
    return asyncio.run(
        _copy(source_url, target_url, source_files, target_files, say, batch, snapshot)
    )


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
    snapshot: bool,
) -> Summary:
    started = time.monotonic()
    progress = Progress(say)
    source_engine = create_engine(source_url)
    target_engine = create_engine(target_url)
    digest = Digest()
    in_place = source_files.resolve() == target_files.resolve()
    try:
        source = await _source_connection(source_engine, snapshot)
        target = await target_engine.connect()
        try:
            # Both transactions stay open to the end: the source's is the snapshot (and,
            # unless `snapshot`, holds its writes), the target's commits everything at once.
            async with source.begin(), target.begin():
                if not snapshot:
                    await _hold_writes(source, say)
                postgres = target.dialect.name == "postgresql"
                if postgres:
                    await target.execute(text(f"SELECT pg_advisory_xact_lock({_COPY_LOCK})"))
                busy = await _empty(target)
                if busy is not None:
                    found = await _already_copied(
                        source, target, source_files, target_files, in_place, size
                    )
                    if found is None:
                        raise CopyRefused(
                            f"the target already holds rows (in {busy}) that are not a copy "
                            "of the source; copy only into an empty database"
                        )
                    say("the target already holds what the source holds")
                    return replace(found, seconds=time.monotonic() - started, snapshot=snapshot)
                await copy_files(source, source_files, target_files, in_place, digest, say)
                for table in tables.Base.metadata.sorted_tables:
                    await copy_table(source, target, table, postgres, size, digest, progress)
                await copy_vectors(source, target, size, digest, progress)
                if not postgres:
                    # FTS5 over the chunks' text, made from the rows just written.
                    await target.execute(
                        text("INSERT INTO chunk_fts(chunk_fts) VALUES ('rebuild')")
                    )
                else:
                    await advance_sequences(target)
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
        await verify(target_engine, target_files, digest, size)
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    return Summary.of(digest, time.monotonic() - started, in_place, snapshot)


async def _source_connection(engine: AsyncEngine, snapshot: bool) -> AsyncConnection:
    connection = await engine.connect()
    if connection.dialect.name == "postgresql":
        # A held source takes locks, which a READ ONLY transaction may not.
        return await connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=snapshot
        )
    if not snapshot:
        return await connection.execution_options(**{IMMEDIATE: True})
    return connection


async def _hold_writes(source: AsyncConnection, say: Callable[[str], None]) -> None:
    """Hold the source read-only until this transaction ends. On SQLite, `BEGIN IMMEDIATE`
    already did (waiting out a writer under the busy timeout); on PostgreSQL, lock every
    table before the first query, so that the snapshot is taken after any writer left."""
    if source.dialect.name == "postgresql":
        names = [table.name for table in tables.Base.metadata.sorted_tables]
        names += await vector_tables(source, await vector_kind(source))
        await source.execute(text("SET LOCAL lock_timeout = '30s'"))
        await source.execute(text(f"LOCK TABLE {', '.join(sorted(set(names)))} IN EXCLUSIVE MODE"))
    say(
        "the source is held read-only until the copy commits: a server on it answers reads, "
        "its writes wait"
    )


async def _already_copied(
    source: AsyncConnection,
    target: AsyncConnection,
    source_files: Path,
    target_files: Path,
    in_place: bool,
    size: int,
) -> Summary | None:
    """The summary of what a target holds when it holds exactly what the source holds (a
    copy killed after its commit), else None."""
    expected = await read_digest(source, size)
    await hash_files(source, source_files, expected)
    found = await read_digest(target, size)
    if differences(expected, found, target_files):
        return None
    return Summary.of(expected, 0.0, in_place, snapshot=False, already=True)
