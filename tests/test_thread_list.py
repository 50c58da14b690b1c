"""The thread list, a Threadline extension (the API has no thread list): a project's
threads newest first, paged like every list, narrowed by metadata and by id prefix."""

from __future__ import annotations

import httpx
from openai import OpenAI

from tests.conftest import make_client
from tests.support.server import Server
from tests.support.store import create_key


def test_newest_first_paged_and_narrowed(client: OpenAI, http: httpx.Client) -> None:
    made = [
        client.beta.threads.create(metadata={"team": "blue" if i % 2 else "red", "n": str(i)})
        for i in range(5)
    ]
    listed = http.get("/threads").json()
    assert listed["object"] == "list"
    assert [t["id"] for t in listed["data"]] == [t.id for t in reversed(made)]
    assert listed["first_id"] == made[-1].id and listed["has_more"] is False
    # The SDK reads each entry as the thread object it is.
    assert listed["data"][0]["object"] == "thread" and listed["data"][0]["metadata"]["n"] == "4"

    first = http.get("/threads", params={"limit": 2}).json()
    second = http.get("/threads", params={"limit": 2, "after": first["last_id"]}).json()
    third = http.get("/threads", params={"limit": 2, "after": second["last_id"]}).json()
    pages = [t["id"] for page in (first, second, third) for t in page["data"]]
    assert pages == [t.id for t in reversed(made)]
    assert first["has_more"] and second["has_more"] and not third["has_more"]
    ascending = http.get("/threads", params={"order": "asc"}).json()
    assert [t["id"] for t in ascending["data"]] == [t.id for t in made]

    blue = http.get("/threads", params={"metadata[team]": "blue"}).json()["data"]
    assert [t["id"] for t in blue] == [made[3].id, made[1].id]
    both = http.get("/threads", params={"metadata[team]": "red", "metadata[n]": "2"}).json()
    assert [t["id"] for t in both["data"]] == [made[2].id]
    assert http.get("/threads", params={"metadata[none]": "x"}).json()["data"] == []

    prefix = made[2].id[:-3]
    found = http.get("/threads", params={"id": prefix}).json()["data"]
    assert made[2].id in [t["id"] for t in found]
    assert http.get("/threads", params={"id": "thread_%"}).json()["data"] == []

    client.beta.threads.delete(made[0].id)
    assert made[0].id not in [t["id"] for t in http.get("/threads").json()["data"]]


def test_only_the_projects_own(http: httpx.Client, server: Server, client: OpenAI) -> None:
    other = make_client(server, create_key(server.database_url, "elsewhere"))
    theirs = other.beta.threads.create()
    mine = client.beta.threads.create()
    ids = [t["id"] for t in http.get("/threads", params={"limit": 100}).json()["data"]]
    assert mine.id in ids and theirs.id not in ids
    bad = http.get("/threads", params={"limit": 101})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
