"""The search indexes over chunks: nearest vectors and keyword matches, per store.

- SQLite: `sqlite-vec` (`vec0` tables, the store as partition key, cosine distance) and FTS5
  (BM25) over the chunks' text.
- PostgreSQL with pgvector: a `vector(n)` table per embedding width with an HNSW index, and
  a generated `tsvector` with a GIN index (`ts_rank_cd`).
- PostgreSQL without pgvector: the same keyword index; vectors kept with their chunks and
  compared exactly, in NumPy, one store at a time.

Vector tables are made on first use, one per width (`chunk_vectors_<n>`), since the width
depends on the embedding model in use.

Keyword search ranks a bounded set: neither FTS5 nor PostgreSQL can take the top k of a
ranking without scoring every match, and at 100,000 chunks nearly every chunk shares some
common word with a question. So the query's words are taken rarest first while the chunks
they match stay within `KEYWORD_BUDGET`, and only the chunks matching those are ranked (by
those words). The words left out are the commonest, the ones BM25 weighs least.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.db.engine import Database

# A few very common words carry no signal for keyword search.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)

# About how many keyword matches one search ranks (the rarest word is used even when it
# alone matches more). Ranking costs about 3 us a chunk on SQLite and 15 on PostgreSQL here.
KEYWORD_BUDGET = 5000


def keywords(query: str) -> list[str]:
    """The distinct words of a query worth matching, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(query.lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


def informative(counts: Sequence[tuple[str, int]], budget: int = KEYWORD_BUDGET) -> list[str]:
    """The words to match, given (word, chunks it matches): rarest first, while their matches
    together stay within `budget`; at least the rarest word that matches anything."""
    chosen: list[str] = []
    total = 0
    for word, count in sorted(counts, key=lambda pair: pair[1]):
        if count == 0:
            continue
        if chosen and total + count > budget:
            break
        chosen.append(word)
        total += count
    return chosen


def _blob(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _fts_words(words: Sequence[str]) -> str:
    """An FTS5 query matching any of `words`."""
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words)


def _ts_words(words: Sequence[str]) -> str:
    """A `to_tsquery` text matching any of `words`."""
    return " | ".join("'" + word.replace("'", "''") + "'" for word in words)


def _literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


class ChunkIndex(Protocol):
    async def insert(
        self, session: AsyncSession, store_id: str, rows: Sequence[tuple[int, str, Sequence[float]]]
    ) -> None:
        """Index chunks given as (id, text, vector); the chunk rows already exist."""
        ...

    async def delete(self, session: AsyncSession, chunks: Sequence[tuple[int, str]]) -> None:
        """Drop chunks given as (id, text) from the index (before their rows go)."""
        ...

    async def nearest(
        self, session: AsyncSession, store_id: str, vector: Sequence[float], k: int
    ) -> list[tuple[int, float]]:
        """The k chunks closest to `vector`: (id, cosine similarity), best first."""
        ...

    async def matching(
        self, session: AsyncSession, store_id: str, words: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """The k chunks that match `words` best: (id, keyword score), best first; the chunks
        ranked are those matching the query's rarer words (see the module's notes)."""
        ...

    async def ranked(
        self, session: AsyncSession, store_id: str, words: Sequence[str], k: int
    ) -> list[tuple[int, float]]:
        """The k best of every chunk that matches any of `words` (unbounded work)."""
        ...


class _Keywords(ABC):
    """Keyword search that ranks the matches of the query's rarer words only."""

    budget = KEYWORD_BUDGET

    async def matching(self, session, store_id, words, k) -> list[tuple[int, float]]:
        if not words:
            return []
        counts = await self._counts(session, store_id, words, self.budget + 1)
        chosen = informative(list(zip(words, counts, strict=True)), self.budget)
        if not chosen:
            return []
        found = await self.ranked(session, store_id, chosen, k)
        counted = dict(zip(words, counts, strict=True))
        rest = [word for word in words if counted[word]]
        if len(found) < min(k, sum(counted[word] for word in chosen)) and len(chosen) < len(rest):
            # The counts are the whole index's: a small store among big ones can hold few
            # of those matches; then its chunks are ranked by every word.
            found = await self.ranked(session, store_id, rest, k)
        return found

    @abstractmethod
    async def _counts(
        self, session: AsyncSession, store_id: str, words: Sequence[str], cap: int
    ) -> list[int]:
        """How many chunks each word matches, counted up to `cap`."""

    @abstractmethod
    async def ranked(
        self, session: AsyncSession, store_id: str, words: Sequence[str], k: int
    ) -> list[tuple[int, float]]: ...


class _VectorTables(ABC):
    """One vector table per embedding width, made the first time the width is used."""

    def __init__(self) -> None:
        self._made: set[int] = set()

    async def _table(self, session: AsyncSession, width: int) -> str:
        name = f"chunk_vectors_{int(width)}"
        if width not in self._made:
            for statement in self._create(name, int(width)):
                await session.execute(text(statement))
            self._made.add(width)
        return name

    @abstractmethod
    def _create(self, name: str, width: int) -> list[str]:
        """The statements that make the table `name` for vectors of `width`."""


class SqliteIndex(_Keywords, _VectorTables):
    def _create(self, name: str, width: int) -> list[str]:
        return [
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0(chunk_id integer primary "
            "key, vector_store_id text partition key, "
            f"embedding float[{width}] distance_metric=cosine)"
        ]

    async def insert(self, session, store_id, rows) -> None:
        if not rows:
            return
        table = await self._table(session, len(rows[0][2]))
        await session.execute(
            text(f"INSERT INTO {table}(chunk_id, vector_store_id, embedding) VALUES (:i, :s, :v)"),
            [{"i": i, "s": store_id, "v": _blob(vector)} for i, _, vector in rows],
        )
        await session.execute(
            text("INSERT INTO chunk_fts(rowid, text) VALUES (:i, :t)"),
            [{"i": i, "t": body} for i, body, _ in rows],
        )

    async def delete(self, session, chunks) -> None:
        if not chunks:
            return
        await session.execute(
            text("INSERT INTO chunk_fts(chunk_fts, rowid, text) VALUES ('delete', :i, :t)"),
            [{"i": i, "t": body} for i, body in chunks],
        )
        tables = await session.scalars(
            text("SELECT name FROM sqlite_master WHERE name GLOB 'chunk_vectors_[0-9]*' "
                 "AND type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
        )  # fmt: skip
        for table in list(tables):
            await session.execute(
                text(f"DELETE FROM {table} WHERE chunk_id = :i"), [{"i": i} for i, _ in chunks]
            )

    async def nearest(self, session, store_id, vector, k) -> list[tuple[int, float]]:
        table = await self._table(session, len(vector))
        rows = await session.execute(
            text(
                f"SELECT chunk_id, distance FROM {table} WHERE embedding MATCH :v AND k = :k "
                "AND vector_store_id = :s ORDER BY distance"
            ),
            {"v": _blob(vector), "k": k, "s": store_id},
        )
        return [(chunk_id, 1.0 - distance) for chunk_id, distance in rows]

    async def _counts(self, session, store_id, words, cap) -> list[int]:
        # FTS5 counts a word's documents quickly (no ranking); the whole index's, since
        # the store is known only by a join per row.
        counts = " UNION ALL ".join(
            f"SELECT {i}, count(*) FROM (SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH :w{i} "
            "LIMIT :cap)"
            for i in range(len(words))
        )
        rows = await session.execute(
            text(counts), {"cap": cap} | {f"w{i}": _fts_words([w]) for i, w in enumerate(words)}
        )
        found = dict(rows.all())
        return [found[i] for i in range(len(words))]

    async def ranked(self, session, store_id, words, k) -> list[tuple[int, float]]:
        if not words:
            return []
        query = _fts_words(words)
        rows = await session.execute(
            text(
                "SELECT chunk_fts.rowid, bm25(chunk_fts) AS rank FROM chunk_fts "
                "JOIN chunks ON chunks.id = chunk_fts.rowid "
                "WHERE chunk_fts MATCH :q AND chunks.vector_store_id = :s "
                "ORDER BY rank LIMIT :k"
            ),
            {"q": query, "s": store_id, "k": k},
        )
        # bm25() is lower for better matches.
        return [(chunk_id, -rank) for chunk_id, rank in rows]


class PgKeywords(_Keywords):
    """Keyword search over the generated `tsvector` column (both PostgreSQL indexes)."""

    # Ranking a match costs more here (its tsvector is read and decompressed).
    budget = KEYWORD_BUDGET // 2

    async def _counts(self, session, store_id, words, cap) -> list[int]:
        # Counting matches exactly would read every matching row; the planner's statistics
        # (ANALYZE, kept current by autovacuum) list the commonest words with their share of
        # the rows. A word not listed is rarer than those: counted as 1.
        row = (
            await session.execute(
                text(
                    "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, "
                    "c.reltuples FROM pg_stats s JOIN pg_class c ON c.relname = s.tablename "
                    "AND c.relnamespace = to_regnamespace(s.schemaname) "
                    "WHERE s.tablename = 'chunks' AND s.attname = 'tsv' "
                    "AND s.schemaname = current_schema()"
                )
            )
        ).first()
        share: dict[str, float] = {}
        rows = 0.0
        if row is not None and row[0] is not None:
            share = dict(zip(row[0], row[1], strict=False))
            rows = float(row[2])
        return [min(cap, max(1, round(share.get(word, 0.0) * rows))) for word in words]

    async def ranked(self, session, store_id, words, k) -> list[tuple[int, float]]:
        if not words:
            return []
        query = _ts_words(words)
        rows = await session.execute(
            text(
                "SELECT id, ts_rank_cd(tsv, q) AS rank FROM chunks, "
                "to_tsquery('simple', :q) AS q "
                "WHERE vector_store_id = :s AND tsv @@ q ORDER BY rank DESC LIMIT :k"
            ),
            {"q": query, "s": store_id, "k": k},
        )
        return [(chunk_id, float(rank)) for chunk_id, rank in rows]


class PgVectorIndex(PgKeywords, _VectorTables):
    def _create(self, name: str, width: int) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {name} (chunk_id bigint PRIMARY KEY REFERENCES "
            'chunks(id) ON DELETE CASCADE, vector_store_id varchar(64) COLLATE "C" NOT NULL, '
            f"embedding vector({width}) NOT NULL)",
            f"CREATE INDEX IF NOT EXISTS {name}_hnsw ON {name} "
            "USING hnsw (embedding vector_cosine_ops)",
            f"CREATE INDEX IF NOT EXISTS {name}_store ON {name} (vector_store_id)",
        ]

    async def insert(self, session, store_id, rows) -> None:
        if not rows:
            return
        table = await self._table(session, len(rows[0][2]))
        await session.execute(
            text(
                f"INSERT INTO {table}(chunk_id, vector_store_id, embedding) "
                "VALUES (:i, :s, CAST(:v AS vector))"
            ),
            [{"i": i, "s": store_id, "v": _literal(vector)} for i, _, vector in rows],
        )

    async def delete(self, session, chunks) -> None:
        """The vectors go with their chunk rows (ON DELETE CASCADE)."""

    async def nearest(self, session, store_id, vector, k) -> list[tuple[int, float]]:
        table = await self._table(session, len(vector))
        # HNSW filters after it searches: look wider so that one store's chunks still fill k.
        await session.execute(text(f"SET LOCAL hnsw.ef_search = {max(100, 4 * int(k))}"))
        rows = await session.execute(
            text(
                f"SELECT chunk_id, embedding <=> CAST(:v AS vector) AS distance FROM {table} "
                "WHERE vector_store_id = :s ORDER BY distance LIMIT :k"
            ),
            {"v": _literal(vector), "s": store_id, "k": k},
        )
        return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in rows]


class PgExactIndex(PgKeywords):
    async def insert(self, session, store_id, rows) -> None:
        for chunk_id, _, vector in rows:
            await session.execute(
                text("UPDATE chunks SET embedding = :v WHERE id = :i"),
                {"v": _blob(vector), "i": chunk_id},
            )

    async def delete(self, session, chunks) -> None:
        """The vectors are part of the chunk rows."""

    async def nearest(self, session, store_id, vector, k) -> list[tuple[int, float]]:
        rows = (
            await session.execute(
                text(
                    "SELECT id, embedding FROM chunks WHERE vector_store_id = :s "
                    "AND embedding IS NOT NULL"
                ),
                {"s": store_id},
            )
        ).all()
        if not rows:
            return []
        ids = np.array([row[0] for row in rows])
        matrix = np.frombuffer(b"".join(row[1] for row in rows), dtype=np.float32).reshape(
            len(rows), -1
        )
        query = np.asarray(vector, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
        similarity = matrix @ query / np.where(norms == 0, 1.0, norms)
        best = np.argsort(-similarity)[:k]
        return [(int(ids[i]), float(similarity[i])) for i in best]


async def make_index(db: Database) -> ChunkIndex:
    if db.is_sqlite:
        return SqliteIndex()
    async with db.read() as session:
        has_vector = await session.scalar(
            text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        )
    return PgVectorIndex() if has_vector else PgExactIndex()
