"""Vector stores, their files and batches, and search, through the official SDK (strict).

On SQLite (sqlite-vec, FTS5), on the PostgreSQL service (exact vector search: it has no
pgvector) and on PostgreSQL 16 with pgvector (HNSW), from pgserver.
"""

from __future__ import annotations

import io
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import make_client
from tests.support import store
from tests.support.server import Server
from tests.support.store import create_key
from tests.support.wire import HOOKS
from threadline.vector_stores.models import VectorStore

CATS = b"Cats sleep for about sixteen hours a day. They are crepuscular hunters."
MARKETS = b"# Markets\n\nStock markets fell sharply on Tuesday after the central bank raised rates."
RECIPE = b"To bake bread, mix flour, water, salt and yeast, knead, let it rise, then bake."


@pytest.fixture
def client(vs_server: Server) -> Iterator[OpenAI]:
    with make_client(vs_server, create_key(vs_server.database_url, uuid.uuid4().hex)) as sdk:
        yield sdk


@pytest.fixture
def http(vs_server: Server, client: OpenAI) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {client.api_key}"}
    with httpx.Client(
        base_url=vs_server.base_url, headers=headers, timeout=60, event_hooks=HOOKS
    ) as raw:
        yield raw


def upload(client: OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="assistants").id


def wait_until_done(client: OpenAI, store_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (found := client.vector_stores.retrieve(store_id)).file_counts.in_progress:
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    return found


def test_create_bare_and_with_every_option(client: OpenAI) -> None:
    bare = client.vector_stores.create()
    assert bare.id.startswith("vs_") and bare.object == "vector_store"
    assert (bare.name, bare.status, bare.usage_bytes, bare.metadata) == ("", "completed", 0, {})
    assert bare.file_counts.total == 0 and bare.expires_after is None and bare.expires_at is None
    assert bare.last_active_at == bare.created_at

    files = [upload(client, "cats.txt", CATS), upload(client, "markets.md", MARKETS)]
    full = client.vector_stores.create(
        name="Knowledge",
        file_ids=files,
        expires_after={"anchor": "last_active_at", "days": 7},
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50},
        },
        metadata={"team": "docs"},
    )
    assert full.name == "Knowledge" and full.metadata == {"team": "docs"}
    assert full.file_counts.total == 2
    assert full.expires_after.days == 7
    assert full.expires_at == full.last_active_at + 7 * 86400
    done = wait_until_done(client, full.id)
    assert done.status == "completed" and done.file_counts.completed == 2
    assert done.usage_bytes > len(CATS) + len(MARKETS)
    entry = client.vector_stores.files.retrieve(file_id=files[0], vector_store_id=full.id)
    assert entry.chunking_strategy.static.max_chunk_size_tokens == 200
    assert entry.chunking_strategy.static.chunk_overlap_tokens == 50


def test_retrieve_update_delete_list(client: OpenAI) -> None:
    made = [client.vector_stores.create(name=f"s{i}") for i in range(4)]
    assert client.vector_stores.retrieve(made[0].id) == made[0]
    same = client.vector_stores.update(made[0].id)
    assert (same.name, same.metadata) == ("s0", {})
    updated = client.vector_stores.update(
        made[0].id,
        name="renamed",
        expires_after={"anchor": "last_active_at", "days": 30},
        metadata={"k": "v"},
    )
    assert (updated.name, updated.metadata, updated.expires_after.days) == (
        "renamed",
        {"k": "v"},
        30,
    )
    assert [s.id for s in client.vector_stores.list()] == [s.id for s in reversed(made)]
    page = client.vector_stores.list(limit=2, order="asc", after=made[0].id, before=made[3].id)
    assert [s.id for s in page.data] == [made[1].id, made[2].id]
    deleted = client.vector_stores.delete(made[1].id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        made[1].id,
        True,
        "vector_store.deleted",
    )
    with pytest.raises(openai.NotFoundError) as error:
        client.vector_stores.retrieve(made[1].id)
    assert error.value.body["message"] == f"No vector store found with id '{made[1].id}'."


def test_files_every_method(client: OpenAI) -> None:
    vs = client.vector_stores.create(name="files")
    cats = upload(client, "cats.txt", CATS)
    added = client.vector_stores.files.create(vector_store_id=vs.id, file_id=cats)
    assert (added.id, added.object, added.vector_store_id) == (cats, "vector_store.file", vs.id)
    assert added.status == "in_progress" and added.attributes == {}
    markets = upload(client, "markets.md", MARKETS)
    polled = client.vector_stores.files.create_and_poll(
        vector_store_id=vs.id,
        file_id=markets,
        attributes={"topic": "finance", "year": 2024, "public": True},
        chunking_strategy={"type": "auto"},
    )
    assert polled.status == "completed" and polled.last_error is None
    assert polled.attributes == {"topic": "finance", "year": 2024, "public": True}
    assert polled.chunking_strategy.static.max_chunk_size_tokens == 800
    uploaded = client.vector_stores.files.upload_and_poll(
        vector_store_id=vs.id, file=("recipe.txt", RECIPE), attributes={"topic": "food"}
    )
    assert uploaded.status == "completed" and uploaded.usage_bytes > 0
    wait_until_done(client, vs.id)

    listed = client.vector_stores.files.list(vector_store_id=vs.id)
    assert [f.id for f in listed.data] == [uploaded.id, markets, cats]
    page = client.vector_stores.files.list(
        vector_store_id=vs.id, limit=1, order="asc", after=cats, before=None, filter="completed"
    )
    assert [f.id for f in page.data] == [markets] and page.has_more is True
    assert client.vector_stores.files.list(vector_store_id=vs.id, filter="failed").data == []

    assert client.vector_stores.files.retrieve(file_id=cats, vector_store_id=vs.id).status == (
        "completed"
    )
    changed = client.vector_stores.files.update(
        file_id=cats, vector_store_id=vs.id, attributes={"animal": "cat"}
    )
    assert changed.attributes == {"animal": "cat"}
    content = client.vector_stores.files.content(file_id=cats, vector_store_id=vs.id)
    assert "".join(part.text for part in content.data) == CATS.decode()
    deleted = client.vector_stores.files.delete(file_id=cats, vector_store_id=vs.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (
        cats,
        True,
        "vector_store.file.deleted",
    )
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(file_id=cats, vector_store_id=vs.id)
    # The file itself is still there; only its place in the store is gone.
    assert client.files.retrieve(cats).id == cats
    assert client.vector_stores.retrieve(vs.id).file_counts.total == 2


def test_batches_every_method(client: OpenAI) -> None:
    vs = client.vector_stores.create()
    ids = [upload(client, f"f{i}.txt", RECIPE + str(i).encode()) for i in range(3)]
    batch = client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=ids[:2])
    assert batch.id.startswith("vsfb_") and batch.object == "vector_store.files_batch"
    assert batch.file_counts.total == 2
    done = client.vector_stores.file_batches.poll(batch.id, vector_store_id=vs.id)
    assert done.status == "completed" and done.file_counts.completed == 2
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id) == done

    with_options = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=vs.id,
        files=[{"file_id": ids[2], "attributes": {"n": 2}}],
        chunking_strategy={
            "type": "static",
            "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 0},
        },
    )
    assert with_options.status == "completed"
    entry = client.vector_stores.files.retrieve(file_id=ids[2], vector_store_id=vs.id)
    assert entry.attributes == {"n": 2}
    assert entry.chunking_strategy.static.max_chunk_size_tokens == 100

    uploaded = client.vector_stores.file_batches.upload_and_poll(
        vector_store_id=vs.id, files=[("a.txt", CATS), ("b.md", MARKETS)]
    )
    assert uploaded.file_counts.completed == 2
    files = client.vector_stores.file_batches.list_files(
        batch_id=uploaded.id, vector_store_id=vs.id
    )
    assert len(files.data) == 2
    page = client.vector_stores.file_batches.list_files(
        batch_id=batch.id, vector_store_id=vs.id, limit=1, order="asc", filter="completed"
    )
    assert [f.id for f in page.data] == [ids[0]] and page.has_more is True
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)


def test_cancel_a_batch_in_progress(client: OpenAI) -> None:
    vs = client.vector_stores.create()
    big = b"".join(b"Paragraph %d about lighthouses and storms at sea.\n\n" % i for i in range(400))
    ids = [upload(client, f"big{i}.txt", big) for i in range(6)]
    batch = client.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=ids)
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id)
    assert cancelled.status == "cancelled"
    assert cancelled.file_counts.cancelled >= 1
    assert cancelled.file_counts.cancelled + cancelled.file_counts.completed == 6
    time.sleep(1.5)  # whatever was being embedded when the cancel came must not revive
    after = client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id)
    assert after.file_counts == cancelled.file_counts
    for entry in client.vector_stores.files.list(vector_store_id=vs.id, filter="cancelled"):
        assert (
            client.vector_stores.files.content(file_id=entry.id, vector_store_id=vs.id).data == []
        )


def filled_store(client: OpenAI) -> str:
    vs = client.vector_stores.create(name="search")
    for name, data, attributes in (
        ("cats.txt", CATS, {"topic": "animals", "year": 2021}),
        ("markets.md", MARKETS, {"topic": "finance", "year": 2024}),
        ("recipe.txt", RECIPE, {"topic": "food", "year": 2023}),
    ):
        client.vector_stores.files.create_and_poll(
            vector_store_id=vs.id, file_id=upload(client, name, data), attributes=attributes
        )
    return vs.id


def test_files_without_attributes_have_an_empty_object(client: OpenAI, http: httpx.Client) -> None:
    """`attributes` is `{}`, never null, on a file without any and on its search results
    (clients read it as a map)."""
    vs = client.vector_stores.create(name="bare")
    cats = upload(client, "cats.txt", CATS)
    added = client.vector_stores.files.create_and_poll(vector_store_id=vs.id, file_id=cats)
    assert added.status == "completed" and added.attributes == {}
    hits = client.vector_stores.search(vector_store_id=vs.id, query="cats sleep").data
    assert [hit.file_id for hit in hits] == [cats] and hits[0].attributes == {}
    raw = http.post(f"/vector_stores/{vs.id}/search", json={"query": "cats sleep"}).json()
    assert raw["data"][0]["attributes"] == {}
    assert http.get(f"/vector_stores/{vs.id}/files/{cats}").json()["attributes"] == {}
    assert http.get(f"/vector_stores/{vs.id}/files").json()["data"][0]["attributes"] == {}
    # Attributes set, then cleared with null: an empty object again.
    http.post(f"/vector_stores/{vs.id}/files/{cats}", json={"attributes": {"a": "b"}})
    cleared = http.post(f"/vector_stores/{vs.id}/files/{cats}", json={"attributes": None})
    assert cleared.status_code == 200 and cleared.json()["attributes"] == {}
    raw = http.post(f"/vector_stores/{vs.id}/search", json={"query": "cats sleep"}).json()
    assert raw["data"][0]["attributes"] == {}


def test_search(client: OpenAI) -> None:
    store_id = filled_store(client)
    page = client.vector_stores.search(vector_store_id=store_id, query="How long do cats sleep?")
    assert page.search_query == ["How long do cats sleep?"]
    assert page.data[0].filename == "cats.txt"
    assert page.data[0].content[0].text == CATS.decode()
    assert page.data[0].attributes == {"topic": "animals", "year": 2021}
    assert all(0 <= hit.score <= 1 for hit in page.data)
    assert [hit.score for hit in page.data] == sorted((h.score for h in page.data), reverse=True)

    page = client.vector_stores.search(
        vector_store_id=store_id,
        query=["bread baking", "flour and yeast"],
        max_num_results=1,
        rewrite_query=True,
        filters={
            "type": "and",
            "filters": [
                {"type": "gte", "key": "year", "value": 2022},
                {"type": "in", "key": "topic", "value": ["food", "finance"]},
            ],
        },
        ranking_options={"ranker": "auto", "score_threshold": 0.1},
    )
    assert page.search_query == ["bread baking", "flour yeast"]
    assert [hit.filename for hit in page.data] == ["recipe.txt"]

    page = client.vector_stores.search(
        vector_store_id=store_id,
        query="central bank interest rates",
        filters={"type": "ne", "key": "topic", "value": "finance"},
        ranking_options={"ranker": "none"},
    )
    assert "markets.md" not in [hit.filename for hit in page.data]
    page = client.vector_stores.search(
        vector_store_id=store_id,
        query="cats",
        ranking_options={"score_threshold": 1.0},
    )
    assert all(hit.score == 1.0 for hit in page.data)


def test_ingestion_failures_touch_only_their_file(client: OpenAI) -> None:
    vs = client.vector_stores.create()
    good = upload(client, "good.txt", CATS)
    corrupt_pdf = upload(client, "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    empty = upload(client, "empty.txt", b"")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.bin", b"\x00\x01\x02" * 100)
    binary = upload(client, "data.zip", archive.getvalue())
    client.vector_stores.file_batches.create_and_poll(
        vector_store_id=vs.id, file_ids=[good, corrupt_pdf, empty, binary]
    )
    status = {f.id: f for f in client.vector_stores.files.list(vector_store_id=vs.id)}
    assert status[good].status == "completed"
    for file_id, code in ((corrupt_pdf, "invalid_file"), (empty, "invalid_file"),
                          (binary, "unsupported_file")):  # fmt: skip
        assert status[file_id].status == "failed"
        assert status[file_id].last_error.code == code
        assert status[file_id].last_error.message
    store_now = client.vector_stores.retrieve(vs.id)
    assert (store_now.file_counts.completed, store_now.file_counts.failed) == (1, 3)
    assert store_now.status == "completed"


def test_a_deleted_file_leaves_every_store(client: OpenAI) -> None:
    store_id = filled_store(client)
    cats = next(f.id for f in client.files.list() if f.filename == "cats.txt")
    client.files.delete(cats)
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(file_id=cats, vector_store_id=store_id)
    page = client.vector_stores.search(vector_store_id=store_id, query="cats sleeping")
    assert "cats.txt" not in [hit.filename for hit in page.data]


def test_expired_store(client: OpenAI, vs_server: Server) -> None:
    vs = client.vector_stores.create(expires_after={"anchor": "last_active_at", "days": 1})

    async def long_ago(db) -> None:
        async with db.write() as session:
            row = await session.get(VectorStore, vs.id)
            row.last_active_at = row.expires_at = int(time.time()) - 10

    store.with_db(vs_server.database_url, long_ago)
    assert client.vector_stores.retrieve(vs.id).status == "expired"
    with pytest.raises(openai.BadRequestError) as error:
        client.vector_stores.search(vector_store_id=vs.id, query="anything")
    assert "expired" in error.value.body["message"]


@pytest.mark.parametrize(
    ("path", "body", "param", "code"),
    [
        ("", {"name": 5}, "name", "invalid_type"),
        ("", {"file_ids": ["file-nope"]}, "file_ids[0]", None),
        ("", {"expires_after": {"anchor": "created_at", "days": 1}}, "expires_after.anchor",
         "invalid_value"),
        ("", {"expires_after": {"anchor": "last_active_at", "days": 400}}, "expires_after.days",
         "integer_above_max_value"),
        ("", {"chunking_strategy": {"type": "static", "static": {
            "max_chunk_size_tokens": 200, "chunk_overlap_tokens": 150}}},
         "chunking_strategy.static", "invalid_value"),
        ("", {"chunking_strategy": {"type": "static", "static": {
            "max_chunk_size_tokens": 5000, "chunk_overlap_tokens": 0}}},
         "chunking_strategy.static.max_chunk_size_tokens", "integer_above_max_value"),
        ("", {"chunking_strategy": {"type": "auto", "extra": 1}}, "chunking_strategy.extra",
         "unknown_parameter"),
        ("/files", {}, "file_id", "missing_required_parameter"),
        ("/files", {"file_id": "file-x", "attributes": {f"k{i}": i for i in range(17)}},
         "attributes", "object_above_max_properties"),
        ("/file_batches", {}, None, "missing_required_parameter"),
        ("/file_batches", {"file_ids": []}, "file_ids", "empty_array"),
        ("/search", {"query": []}, "query", "empty_array"),
        ("/search", {"query": "x", "max_num_results": 51}, "max_num_results",
         "integer_above_max_value"),
        ("/search", {"query": "x", "filters": {"type": "near", "key": "a", "value": 1}},
         "filters.type", "invalid_value"),
        ("/search", {"query": "x", "ranking_options": {"ranker": "best"}},
         "ranking_options.ranker", "invalid_value"),
    ],
)  # fmt: skip
def test_bad_requests(
    client: OpenAI, http: httpx.Client, path: str, body: dict, param: str | None, code: str | None
) -> None:
    target = (
        "/vector_stores"
        if path == ""
        else f"/vector_stores/{client.vector_stores.create().id}{path}"
    )
    response = http.post(target, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["param"], error["code"]) == (param, code), error
    if path == "":
        assert len(client.vector_stores.list().data) == 0


def test_another_projects_store_is_404(client: OpenAI, vs_server: Server) -> None:
    vs = client.vector_stores.create()
    with make_client(vs_server, create_key(vs_server.database_url, uuid.uuid4().hex)) as other:
        with pytest.raises(openai.NotFoundError):
            other.vector_stores.retrieve(vs.id)
        with pytest.raises(openai.BadRequestError):
            other.beta.assistants.create(
                model="m", tool_resources={"file_search": {"vector_store_ids": [vs.id]}}
            )
        assert other.vector_stores.list().data == []


def test_tool_resources_and_attachments_use_stores(client: OpenAI, tmp_path: Path) -> None:
    cats = upload(client, "cats.txt", CATS)
    assistant = client.beta.assistants.create(
        model="m",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [cats],
                                                           "metadata": {"made": "inline"}}]}},
    )  # fmt: skip
    (store_id,) = assistant.tool_resources.file_search.vector_store_ids
    made = wait_until_done(client, store_id)
    assert made.file_counts.completed == 1 and made.metadata == {"made": "inline"}

    markets = upload(client, "markets.md", MARKETS)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "See attached",
                   "attachments": [{"file_id": markets, "tools": [{"type": "file_search"}]}]}]
    )  # fmt: skip
    (thread_store,) = thread.tool_resources.file_search.vector_store_ids
    # A later attachment joins the same store.
    recipe = upload(client, "recipe.txt", RECIPE)
    client.beta.threads.messages.create(
        thread.id, role="user", content="And this",
        attachments=[{"file_id": recipe, "tools": [{"type": "file_search"}]}],
    )  # fmt: skip
    assert client.beta.threads.retrieve(thread.id).tool_resources.file_search.vector_store_ids == [
        thread_store
    ]
    assert wait_until_done(client, thread_store).file_counts.completed == 2


def test_each_database_uses_its_index(client: OpenAI, vs_server: Server) -> None:
    store_id = filled_store(client)

    async def indexed(db) -> dict[str, int]:
        from sqlalchemy import text

        async with db.read() as session:
            counts = {
                "chunks": await session.scalar(
                    text("SELECT count(*) FROM chunks WHERE vector_store_id = :s"), {"s": store_id}
                )
            }
            if db.is_sqlite:
                counts["vectors"] = await session.scalar(
                    text("SELECT count(*) FROM chunk_vectors_384 WHERE vector_store_id = :s"),
                    {"s": store_id},
                )
                counts["keywords"] = await session.scalar(
                    text("SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH 'cats'")
                )
                return counts
            pgvector = await session.scalar(
                text("SELECT count(*) FROM pg_extension WHERE extname = 'vector'")
            )
            vectors = (
                "SELECT count(*) FROM chunk_vectors_384 WHERE vector_store_id = :s"
                if pgvector
                else "SELECT count(*) FROM chunks WHERE vector_store_id = :s "
                "AND embedding IS NOT NULL"
            )
            counts["vectors"] = await session.scalar(text(vectors), {"s": store_id})
            counts["keywords"] = await session.scalar(
                text("SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('simple', 'cats')")
            )
            counts["pgvector"] = pgvector
            return counts

    counts = store.with_db(vs_server.database_url, indexed)
    assert counts["chunks"] == 3 and counts["vectors"] == 3 and counts["keywords"] >= 1
    if "pgvector" in counts:
        assert counts["pgvector"] == ("pgvector" in vs_server.data_dir.name)
