"""The wire's one rule for empty values (docs/architecture.md, "Empty values"): a field the
spec makes optional and not nullable is left out when it has no value, one it makes
nullable is `null`, a required one is always there; and the official SDK, validating
strictly, reads every shape. (Each answer is also checked against the served document by
the `http` and `client` fixtures.)"""

from __future__ import annotations

import httpx
from openai import OpenAI


def test_a_file_leaves_out_what_it_does_not_have(http: httpx.Client, client: OpenAI) -> None:
    plain = http.post(
        "/files", files={"file": ("a.txt", b"hello")}, data={"purpose": "assistants"}
    ).json()
    assert "expires_at" not in plain and "status_details" not in plain
    expiring = http.post(
        "/files",
        files={"file": ("b.txt", b"hello")},
        data={"purpose": "assistants", "expires_after[anchor]": "created_at",
              "expires_after[seconds]": "3600"},
    ).json()  # fmt: skip
    assert expiring["expires_at"] == expiring["created_at"] + 3600
    listed = {f["id"]: f for f in http.get("/files").json()["data"]}
    assert "expires_at" not in listed[plain["id"]] and "expires_at" in listed[expiring["id"]]
    assert client.files.retrieve(plain["id"]).expires_at is None


def test_a_vector_store_without_expiry_has_no_expires_after(http: httpx.Client) -> None:
    store = http.post("/vector_stores", json={"name": "s"}).json()
    assert "expires_after" not in store
    assert store["expires_at"] is None  # nullable in the spec: sent as null
    dated = http.post(
        "/vector_stores", json={"expires_after": {"anchor": "last_active_at", "days": 2}}
    ).json()
    assert dated["expires_after"] == {"anchor": "last_active_at", "days": 2}


def test_tools_leave_out_options_that_were_not_given(http: httpx.Client, client: OpenAI) -> None:
    bare = http.post(
        "/assistants",
        json={"model": "gpt-4o", "tools": [
            {"type": "file_search"}, {"type": "function", "function": {"name": "f"}}]},
    ).json()  # fmt: skip
    file_search, function = bare["tools"]
    assert "max_num_results" not in file_search["file_search"]
    assert set(file_search["file_search"]["ranking_options"]) == {"ranker", "score_threshold"}
    assert function["function"] == {"name": "f", "strict": False}
    full = http.post(
        "/assistants",
        json={"model": "gpt-4o", "tools": [
            {"type": "file_search", "file_search": {"max_num_results": 3}},
            {"type": "function", "function": {
                "name": "g", "description": "G.", "parameters": {"type": "object"}}}]},
    ).json()  # fmt: skip
    assert full["tools"][0]["file_search"]["max_num_results"] == 3
    assert full["tools"][1]["function"]["parameters"] == {"type": "object"}
    # The strict SDK reads both, and a list holding them.
    listed = client.beta.assistants.list()
    assert {a.id for a in listed.data} == {bare["id"], full["id"]}
    assert listed.data[-1].tools[0].file_search.max_num_results is None


def test_an_empty_page_has_empty_string_ids(http: httpx.Client, client: OpenAI) -> None:
    """The spec requires `first_id` and `last_id` as strings, even on an empty page."""
    page = http.get("/assistants").json()
    assert page == {"object": "list", "data": [], "first_id": "", "last_id": "", "has_more": False}
    assert client.beta.assistants.list().data == []
    assistant = client.beta.assistants.create(model="gpt-4o")
    after_last = http.get("/assistants", params={"after": assistant.id}).json()
    assert (after_last["first_id"], after_last["last_id"]) == ("", "")
    # An empty cursor, as a client may send it back, reads as no cursor.
    again = http.get("/assistants", params={"after": after_last["last_id"]}).json()
    assert [a["id"] for a in again["data"]] == [assistant.id]
