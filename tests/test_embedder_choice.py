"""A store keeps the embedder it was made with: a server restarted with another default embeds
the store's new files and its queries with the store's own, so its vectors never mix; new
stores get the new default. Checked against the real models, in-process, on the stored vectors.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
from openai import OpenAI
from sqlalchemy import text

from tests.conftest import ENGINE_ENV, make_client
from tests.support.scripted_backend import ScriptedBackend
from tests.support.server import Server
from tests.support.store import create_key
from threadline.backends.embeddings import E5_SMALL, E5Embedder
from threadline.backends.onnx_embedder import MINILM_L6, OnnxEmbedder, cache_dir
from threadline.db.engine import Database

CATS = "Cats sleep for about sixteen hours a day. They are crepuscular hunters."
MARKETS = "Stock markets fell sharply on Tuesday after the central bank raised rates."


def wait_until_done(client: OpenAI, store_id: str) -> None:
    deadline = time.monotonic() + 120
    while (found := client.vector_stores.retrieve(store_id)).file_counts.in_progress:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    assert found.file_counts.completed == found.file_counts.total, found


def add(client: OpenAI, store_id: str, name: str, body: str) -> None:
    upload = client.files.create(file=(name, body.encode()), purpose="assistants")
    client.vector_stores.files.create(vector_store_id=store_id, file_id=upload.id)
    wait_until_done(client, store_id)


async def stored(url: str, store_id: str) -> tuple[str, dict[str, np.ndarray]]:
    """The store's recorded embedder, and each chunk's text with its stored vector."""
    db = Database(url)
    try:
        async with db.read() as session:
            embedder = await session.scalar(
                text("SELECT embedder FROM vector_stores WHERE id = :s"), {"s": store_id}
            )
            rows = await session.execute(
                text(
                    "SELECT chunks.text, v.embedding FROM chunks JOIN chunk_vectors_384 v "
                    "ON v.chunk_id = chunks.id WHERE chunks.vector_store_id = :s"
                ),
                {"s": store_id},
            )
            vectors = {body: np.frombuffer(blob, dtype=np.float32) for body, blob in rows}
    finally:
        await db.dispose()
    return embedder, vectors


async def embedded(embedder, texts: list[str], query: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return np.array(await embedder.passages(texts)), np.array(await embedder.query(query))
    finally:
        await embedder.aclose()


def test_a_store_keeps_its_embedder_when_the_default_changes(
    llm: ScriptedBackend, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'threadline.db'}"
    env = {"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV}
    before = Server(url, tmp_path, env={**env, "THREADLINE_EMBEDDER": E5_SMALL}).start()
    key = create_key(url, "embedders")
    try:
        with make_client(before, key) as client:
            old = client.vector_stores.create(name="made with e5").id
            add(client, old, "cats.txt", CATS)
    finally:
        before.stop()

    after = Server(url, tmp_path, env=env).start()  # the default embedder now
    try:
        with make_client(after, key) as client:
            add(client, old, "markets.txt", MARKETS)
            new = client.vector_stores.create(name="made with the default").id
            add(client, new, "cats.txt", CATS)
            hits = client.vector_stores.search(
                vector_store_id=old, query="How long do cats sleep?",
                ranking_options={"ranker": "none"},
            ).data  # fmt: skip
    finally:
        after.stop()

    old_name, old_vectors = asyncio.run(stored(url, old))
    new_name, new_vectors = asyncio.run(stored(url, new))
    assert (old_name, new_name) == (E5_SMALL, MINILM_L6.name)
    assert sorted(old_vectors) == [CATS, MARKETS] and list(new_vectors) == [CATS]

    query = "How long do cats sleep?"
    e5_passages, e5_query = asyncio.run(embedded(E5Embedder(), [CATS, MARKETS], query))
    minilm = OnnxEmbedder(MINILM_L6, cache_dir())
    minilm_passages, _ = asyncio.run(embedded(minilm, [CATS], query))
    # Both of the old store's files, before and after the restart, hold e5 vectors.
    assert np.allclose(old_vectors[CATS], e5_passages[0], atol=1e-4)
    assert np.allclose(old_vectors[MARKETS], e5_passages[1], atol=1e-4)
    assert np.allclose(new_vectors[CATS], minilm_passages[0], atol=1e-4)
    assert not np.allclose(e5_passages[0], minilm_passages[0], atol=1e-2)
    # And its search embedded the query with e5 too: the dense score is e5's similarity.
    assert hits[0].filename == "cats.txt"
    assert abs(hits[0].score - float(e5_passages[0] @ e5_query)) < 1e-3
