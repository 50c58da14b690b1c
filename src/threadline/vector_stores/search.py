"""Searching vector stores: dense candidates, fused with keyword ones or not, filtered,
scored 0..1.

The ranker `default-2024-11-15` asks every store's index for its nearest chunks and its best
keyword matches and fuses the two rankings by reciprocal rank (RRF); a chunk's score is its
fused value over the best a chunk could get (first in both lists), so 1.0 means "first in
both" and the scale is the same for every query. `none` and `auto` (file_search's ranker
too) rank by dense similarity alone, the score being that similarity: on the retrieval
benchmark no fusion of the same candidates ranked better than dense alone beyond the noise
(docs/performance.md §6.1). Several queries: a chunk keeps its best score.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.backends.embedder_choice import Embedders
from threadline.files.models import File
from threadline.vector_stores.filters import matches
from threadline.vector_stores.index import ChunkIndex, keywords
from threadline.vector_stores.models import Chunk, VectorStore, VectorStoreFile

RRF_K = 60
# The rankers that fuse keyword matches with the dense ranking; the others rank by dense alone.
HYBRID_RANKERS = frozenset({"default-2024-11-15"})
# How many candidates each index offers per query, at the least.
CANDIDATES = 50


@dataclass(frozen=True)
class Hit:
    chunk_id: int
    file_id: str
    filename: str
    score: float
    text: str
    attributes: dict[str, Any] | None


def rewrite(query: str) -> str:
    """A query as a search wants it: its content words. (The hosted API asked a model; a
    deterministic rewrite keeps searches repeatable and needs no model call.)"""
    words = keywords(query)
    return " ".join(words) if words else query.strip()


async def search(
    session: AsyncSession,
    index: ChunkIndex,
    embedders: Embedders,
    stores: Sequence[VectorStore],
    queries: Sequence[str],
    *,
    max_results: int,
    filters: Any = None,
    ranker: str = "auto",
    score_threshold: float = 0.0,
    weights: tuple[float, float] | None = None,
) -> list[Hit]:
    """The best chunks for the queries; with the hybrid ranker, embeddings and keywords
    fused, weighed by `weights` (embedding, text) when given."""
    if not stores or not queries:
        return []
    depth = max(CANDIDATES, 4 * max_results)
    hybrid = ranker in HYBRID_RANKERS
    best: dict[int, float] = {}
    for query in queries:
        if hybrid:
            # The query's embeddings (on the embedders' threads) and its keyword matches (in
            # the database) are independent: they run at once.
            vectors, matched = await asyncio.gather(
                _query_vectors(embedders, stores, query),
                _matching(session, index, stores, keywords(query), depth),
            )
        else:
            vectors, matched = await _query_vectors(embedders, stores, query), {}
        for store in stores:
            dense = await index.nearest(session, store.id, vectors[store.embedder], depth)
            if hybrid:
                scored = fuse(dense, matched[store.id], weights=weights or (1.0, 1.0))
            else:
                scored = {chunk: max(0.0, similarity) for chunk, similarity in dense}
            for chunk_id, score in scored.items():
                if score > best.get(chunk_id, -1.0):
                    best[chunk_id] = score
    if not best:
        return []
    rows = (
        await session.execute(
            select(Chunk.id, Chunk.file_id, Chunk.text).where(Chunk.id.in_(list(best)))
        )
    ).all()
    # Only the candidates' files are read: a store may hold many.
    files = await _searchable_files(
        session, [s.id for s in stores], filters, {file_id for _, file_id, _ in rows}
    )
    hits = [
        Hit(chunk_id, file_id, files[file_id][0], best[chunk_id], body, files[file_id][1])
        for chunk_id, file_id, body in rows
        if file_id in files and best[chunk_id] >= score_threshold
    ]
    hits.sort(key=lambda hit: (-hit.score, hit.chunk_id))
    return hits[:max_results]


async def _query_vectors(
    embedders: Embedders, stores: Sequence[VectorStore], query: str
) -> dict[str | None, list[float]]:
    """The query embedded once by each embedder the stores were made with (never mixed)."""
    vectors: dict[str | None, list[float]] = {}
    for store in stores:
        if store.embedder not in vectors:
            vectors[store.embedder] = await embedders.of(store.embedder).query(query)
    return vectors


async def _matching(
    session: AsyncSession,
    index: ChunkIndex,
    stores: Sequence[VectorStore],
    words: list[str],
    k: int,
) -> dict[str, list[tuple[int, float]]]:
    return {store.id: await index.matching(session, store.id, words, k) for store in stores}


def fuse(
    dense: Sequence[tuple[int, float]],
    matched: Sequence[tuple[int, float]],
    k: int = RRF_K,
    depth: int | None = None,
    weights: tuple[float, float] = (1.0, 1.0),
) -> dict[int, float]:
    """Reciprocal-rank fusion of the first `depth` of each ranking, each weighed by its
    weight, scaled so that first in both is 1.0."""
    fused: dict[int, float] = {}
    for ranking, weight in ((dense[:depth], weights[0]), (matched[:depth], weights[1])):
        for rank, (chunk_id, _) in enumerate(ranking, 1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    top = sum(weights) / (k + 1) or 1.0
    return {chunk_id: value / top for chunk_id, value in fused.items()}


async def _searchable_files(
    session: AsyncSession, store_ids: Sequence[str], filters: Any, file_ids: set[str]
) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """file id -> (filename, attributes) for those of `file_ids` that are completed in the
    stores and pass `filters`."""
    rows = await session.execute(
        select(VectorStoreFile.id, VectorStoreFile.attributes, File.filename)
        .join(File, File.id == VectorStoreFile.id)
        .where(
            VectorStoreFile.vector_store_id.in_(list(store_ids)),
            VectorStoreFile.id.in_(list(file_ids)),
            VectorStoreFile.status == "completed",
        )
    )
    return {
        file_id: (filename, attributes)
        for file_id, attributes, filename in rows
        if filters is None or matches(filters, attributes or {})
    }
