"""The response list, a Threadline extension (the API has no response list): a project's
stored responses, newest first, paged by keyset like every list; with the official SDK's
low-level `get`, against the real server and the scripted backend."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import make_client
from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.server import Server
from tests.support.store import create_key


def listed(client: OpenAI, **params: Any) -> dict[str, Any]:
    return client.get("/responses", cast_to=object, options={"params": params})  # type: ignore[return-value]


def test_newest_first_paged_and_ordered(client: OpenAI, llm: ScriptedBackend) -> None:
    model = llm.model(always=Text("Hi."))
    made = [client.responses.create(model=model, input=f"Hello {n}") for n in range(5)]
    newest_first = [r.id for r in reversed(made)]

    page = listed(client)
    assert page["object"] == "list" and page["has_more"] is False
    assert [r["id"] for r in page["data"]] == newest_first
    assert page["first_id"] == made[-1].id and page["last_id"] == made[0].id
    # Each entry is the response object, as retrieving it gives it.
    first = page["data"][0]
    assert first["object"] == "response" and first["status"] == "completed"
    assert first["model"] == model and first["output"][0]["content"][0]["text"] == "Hi."
    assert first == client.get(f"/responses/{made[-1].id}", cast_to=object)

    pages, after = [], None
    while True:
        one = listed(client, limit=2, **({"after": after} if after else {}))
        pages.append(one)
        if not one["has_more"]:
            break
        after = one["last_id"]
    assert [len(p["data"]) for p in pages] == [2, 2, 1]
    assert [r["id"] for p in pages for r in p["data"]] == newest_first

    ascending = listed(client, order="asc")
    assert [r["id"] for r in ascending["data"]] == [r.id for r in made]
    later = listed(client, order="asc", after=made[1].id, limit=2)
    assert [r["id"] for r in later["data"]] == [made[2].id, made[3].id] and later["has_more"]

    client.responses.delete(made[2].id)
    assert made[2].id not in [r["id"] for r in listed(client)["data"]]


def test_only_the_projects_stored_responses(
    client: OpenAI, server: Server, llm: ScriptedBackend
) -> None:
    model = llm.model(always=Text("A fairly long answer, written slowly.", chunk_delay=0.05))
    with make_client(server, create_key(server.database_url, "elsewhere")) as other:
        theirs = other.responses.create(model=model, input="Hello")
    mine = client.responses.create(model=model, input="Hello")
    client.responses.create(model=model, input="Forget me", store=False)
    # A streamed `store: false` response is kept only while its stream lasts: not listed even
    # then.
    with client.responses.create(
        model=model, input="Forget me too", store=False, stream=True
    ) as stream:
        created = next(iter(stream))
        assert created.type == "response.created"
        during = [r["id"] for r in listed(client, limit=100)["data"]]
        list(stream)
    assert during == [mine.id]
    assert [r["id"] for r in listed(client, limit=100)["data"]] == [mine.id]
    assert theirs.id not in during


def test_bad_paging_is_refused(client: OpenAI) -> None:
    for params, param in (
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"order": "sideways"}, "order"),
        ({"after": "not-an-id"}, "after"),
    ):
        with pytest.raises(openai.BadRequestError) as refused:
            listed(client, **params)
        assert refused.value.body["param"] == param, params  # type: ignore[index]
