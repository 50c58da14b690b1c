"""Cursor pagination: stable under shared created_at seconds, exact has_more, both ways."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import text

from tests.support import store
from tests.support.server import Server
from threadline.assistants.models import Assistant
from threadline.db.keyset import PageQuery, page_statement
from threadline.files.models import File
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message

COUNT = 250


def walk_forward(fetch: Callable[..., dict], order: str, limit: int) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        page = fetch(order=order, limit=limit, **({"after": after} if after else {}))
        ids = [item["id"] for item in page["data"]]
        assert len(ids) <= limit
        if ids:
            assert (page["first_id"], page["last_id"]) == (ids[0], ids[-1])
        seen += ids
        if not page["has_more"]:
            return seen
        assert len(ids) == limit  # has_more is exact: a full page precedes it
        after = page["last_id"]


def walk_backward(fetch: Callable[..., dict], order: str, limit: int, start: str) -> list[str]:
    """From `start` towards the head of the list, using `before`."""
    seen: list[str] = []
    before = start
    while True:
        page = fetch(order=order, limit=limit, before=before)
        ids = [item["id"] for item in page["data"]]
        seen = ids + seen
        if not page["has_more"]:
            return seen
        before = page["first_id"]


def check_walks(fetch: Callable[..., dict], oldest_first: list[str]) -> None:
    for order, expected in (("asc", oldest_first), ("desc", oldest_first[::-1])):
        for limit in (1, 20, 50, 100):
            if limit == 1 and len(expected) > 60:
                continue
            assert walk_forward(fetch, order, limit) == expected
        assert walk_backward(fetch, order, 20, expected[-1]) == expected[:-1]
        middle = len(expected) // 2
        # Between two cursors: exactly the ten objects strictly inside.
        between = {"after": expected[middle - 6], "before": expected[middle + 5]}
        page = fetch(order=order, limit=10, **between)
        assert [item["id"] for item in page["data"]] == expected[middle - 5 : middle + 5]
        assert page["has_more"] is False
        page = fetch(order=order, limit=9, **between)
        assert [item["id"] for item in page["data"]] == expected[middle - 5 : middle + 4]
        assert page["has_more"] is True


def fetcher(http: httpx.Client, path: str) -> Callable[..., dict]:
    def fetch(**params: object) -> dict:
        response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    return fetch


def test_messages_sharing_one_second(client: OpenAI, http: httpx.Client) -> None:
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(COUNT)]
    )
    fetch = fetcher(http, f"/threads/{thread.id}/messages")
    everything = walk_forward(fetch, "asc", 100)
    assert len(everything) == COUNT
    created = {m["created_at"] for m in fetch(order="asc", limit=100)["data"]}
    assert len(created) <= 2  # they share their creation second (or straddle one)
    texts = [
        m.content[0].text.value
        for m in client.beta.threads.messages.list(thread.id, order="asc", limit=100).data
    ]
    assert texts == [f"m{i}" for i in range(100)]  # creation order within the second
    check_walks(fetch, everything)


def test_assistants_created_quickly(client: OpenAI, http: httpx.Client) -> None:
    made = [client.beta.assistants.create(model="m", name=str(i)).id for i in range(COUNT)]
    check_walks(fetcher(http, "/assistants"), made)
    # The SDK's own auto-pagination sees every object once, newest first.
    assert [a.id for a in client.beta.assistants.list(limit=37)] == made[::-1]


def test_files_runs_and_steps(client: OpenAI, http: httpx.Client, server: Server) -> None:
    files = [client.files.create(file=(f"{i}.txt", b"x"), purpose="assistants").id
             for i in range(60)]  # fmt: skip
    check_walks(fetcher(http, "/files"), files)

    thread = client.beta.threads.create()
    runs = [store.run_fields(thread.id, "asst_x") for _ in range(COUNT)]
    steps = [store.step_fields(runs[0], {"type": "message_creation",
                                         "message_creation": {"message_id": f"msg_{i}"}})
             for i in range(COUNT)]  # fmt: skip
    store.insert(server.database_url, *[(Run, r) for r in runs], *[(RunStep, s) for s in steps])
    check_walks(fetcher(http, f"/threads/{thread.id}/runs"), [r["id"] for r in runs])
    check_walks(
        fetcher(http, f"/threads/{thread.id}/runs/{runs[0]['id']}/steps"), [s["id"] for s in steps]
    )


def test_a_deleted_cursor_still_pages(client: OpenAI) -> None:
    made = [client.beta.assistants.create(model="m").id for _ in range(6)]
    client.beta.assistants.delete(made[2])
    page = client.beta.assistants.list(order="asc", after=made[2])
    assert [a.id for a in page.data] == made[3:]


def test_bad_page_parameters(http: httpx.Client) -> None:
    for query, param, code in (
        ("limit=0", "limit", "integer_below_min_value"),
        ("limit=101", "limit", "integer_above_max_value"),
        ("limit=ten", "limit", "invalid_type"),
        ("order=newest", "order", "invalid_value"),
        ("after=not-an-id", "after", None),
    ):
        response = http.get(f"/assistants?{query}")
        assert response.status_code == 400, query
        error = response.json()["error"]
        assert (error["param"], error["code"]) == (param, code), query
    # Files follow the hosted API: up to 10,000 per page.
    assert http.get("/files?limit=10000").status_code == 200
    assert http.get("/files?limit=10001").status_code == 400


@pytest.mark.parametrize(
    ("model", "scope"),
    [
        (Assistant, Assistant.project_id == "p"),
        (Message, Message.thread_id == "t"),
        (Run, Run.thread_id == "t"),
        (RunStep, RunStep.run_id == "r"),
        (File, File.project_id == "p"),
    ],
)
def test_pages_are_served_from_an_index(server: Server, model: type, scope) -> None:
    """The planner answers every page query with an index range, never a table scan."""
    cursor = "asst_8DnbSz0lNl8K0T1nKRoeK1MY"
    statement = page_statement(model, [scope], PageQuery(limit=20, after=cursor))

    async def plan(db) -> str:
        async with db.read() as session:
            dialect = session.bind.dialect
            compiled = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
            if dialect.name == "sqlite":
                rows = await session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
                return " ".join(str(row[-1]) for row in rows)
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            rows = await session.execute(text(f"EXPLAIN {compiled}"))
            return " ".join(str(row[0]) for row in rows)

    described = store.with_db(server.database_url, plan)
    assert "OFFSET" not in str(statement).upper()
    assert "USING INDEX" in described or "Index Scan" in described, described
    assert "SCAN " + model.__tablename__ not in described
    assert "Sort" not in described and "TEMP B-TREE" not in described, described
