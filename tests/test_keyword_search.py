"""Keyword search ranks the matches of the query's rarer words, on each index.

In-process against real databases (SQLite with FTS5, the PostgreSQL service, PostgreSQL 16
with pgvector), with a small budget so that a few chunks exercise what 100,000 do in
production (docs/performance.md §6.3).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import insert, text

from tests.conftest import own_database
from tests.support import store
from threadline.db.engine import Database
from threadline.db.migrate import upgrade
from threadline.projects.models import Project
from threadline.vector_stores.index import ChunkIndex, informative, make_index
from threadline.vector_stores.models import Chunk, VectorStore


def test_words_are_taken_rarest_first_within_the_budget() -> None:
    counts = [("class", 900), ("sortable", 0), ("sign", 40), ("my", 20), ("less", 70)]
    assert informative(counts, budget=100) == ["my", "sign"]
    # The rarest word that matches anything is used even when it alone is over the budget.
    assert informative([("class", 900), ("object", 950)], budget=100) == ["class"]
    assert informative([("sortable", 0)], budget=100) == []


@pytest.fixture(scope="module", params=["sqlite", "postgres", "pgvector"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp(f"keywords-{request.param}")
    with own_database(request.param, data_dir) as url:
        upgrade(url)
        yield url


async def _fill(db: Database, index: ChunkIndex, stores: dict[str, list[str]]) -> None:
    """Stores named by their keys, each with chunks of the given texts (ids from 1, in order)."""
    now = int(time.time())
    chunk_id = 0
    async with db.write() as session:
        session.add(Project(id="proj_keywords", name="keywords", created_at=now))
        await session.flush()
        for store_id, texts in stores.items():
            session.add(
                VectorStore(
                    id=store_id,
                    project_id="proj_keywords",
                    created_at=now,
                    name=store_id,
                    metadata_={},
                    embedder="test",
                    dimensions=3,
                )
            )
            await session.flush()
            rows = []
            for position, body in enumerate(texts):
                chunk_id += 1
                rows.append(
                    {
                        "id": chunk_id,
                        "vector_store_id": store_id,
                        "file_id": f"file-{store_id}",
                        "position": position,
                        "text": body,
                        "tokens": len(body.split()),
                    }
                )
            await session.execute(insert(Chunk), rows)
            await index.insert(
                session, store_id, [(r["id"], r["text"], [1.0, 0.0, 0.0]) for r in rows]
            )
    if not db.is_sqlite:
        # The word counts come from the planner's statistics, as autovacuum keeps them.
        async with db.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("ANALYZE chunks"))


def test_the_rarer_words_choose_what_is_ranked(database: str) -> None:
    big = [f"common filler text number{i}" for i in range(40)]
    big[7] += " rare rare"
    big[23] += " rare"
    small = ["common ground", "common sense and common words", "nothing shared"]

    async def work(db: Database) -> dict[str, list[int]]:
        index = await make_index(db)
        # A budget of 10 matches: "common" (42 chunks) is left out when "rare" is there.
        index.budget = 10  # type: ignore[attr-defined]
        await _fill(db, index, {"vs_big": big, "vs_small": small})
        async with db.read() as session:
            return {
                "bounded": [
                    c for c, _ in await index.matching(session, "vs_big", ["common", "rare"], 5)
                ],
                "every": [
                    c for c, _ in await index.ranked(session, "vs_big", ["common", "rare"], 5)
                ],
                "small": [
                    c for c, _ in await index.matching(session, "vs_small", ["rare", "common"], 5)
                ],
                "none": [c for c, _ in await index.matching(session, "vs_big", ["absent"], 5)],
            }

    found = store.with_db(database, work)
    # Only the chunks with the rare word are ranked, the one with it twice first.
    assert found["bounded"] == [8, 24]
    # Every match ranked: the rare word's chunks still lead, and commoner ones follow.
    assert found["every"][:2] == [8, 24] and len(found["every"]) == 5
    # A store holding none of the rare word's matches is searched by every word instead.
    assert set(found["small"]) == {41, 42}
    assert found["none"] == []
