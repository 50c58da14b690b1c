"""Files through the official SDK: upload, list, retrieve, download, delete, expiry."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import store
from tests.support.server import Server
from threadline.files import service as files_service
from threadline.files.models import File
from threadline.files.storage import FileStorage
from threadline.roles import file_deletion_hooks
from threadline.vector_stores.index import make_index


def test_upload_bare(client: OpenAI, server: Server) -> None:
    uploaded = client.files.create(file=("hello.txt", b"hello world"), purpose="assistants")
    assert uploaded.id.startswith("file-")
    assert (uploaded.object, uploaded.bytes, uploaded.filename) == ("file", 11, "hello.txt")
    assert (uploaded.purpose, uploaded.status) == ("assistants", "processed")
    assert uploaded.expires_at is None
    assert (server.data_dir / "files" / uploaded.id).read_bytes() == b"hello world"


def test_upload_with_every_option(client: OpenAI) -> None:
    uploaded = client.files.create(
        file=("batch.jsonl", b'{"a": 1}\n'),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert uploaded.expires_at == uploaded.created_at + 7200
    assert client.files.retrieve(uploaded.id) == uploaded


def test_batch_files_expire_after_30_days_by_default(client: OpenAI) -> None:
    uploaded = client.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    assert uploaded.expires_at == uploaded.created_at + 30 * 24 * 3600


def test_download_returns_the_exact_bytes(client: OpenAI) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    uploaded = client.files.create(file=("blob.bin", payload), purpose="assistants")
    assert uploaded.bytes == len(payload)
    assert client.files.content(uploaded.id).read() == payload


def test_list_bare_and_with_every_option(client: OpenAI) -> None:
    made = [
        client.files.create(file=(f"{i}.txt", b"x"), purpose="assistants" if i % 2 else "vision")
        for i in range(5)
    ]
    assert [f.id for f in client.files.list().data] == [f.id for f in reversed(made)]
    page = client.files.list(purpose="assistants", limit=1, order="asc", after=made[0].id)
    assert [f.id for f in page.data] == [made[1].id]
    assert page.has_more is True
    assert [f.id for f in client.files.list(purpose="assistants").data] == [made[3].id, made[1].id]


def test_delete_removes_the_object_and_its_bytes(client: OpenAI, server: Server) -> None:
    uploaded = client.files.create(file=("gone.txt", b"bye"), purpose="assistants")
    deleted = client.files.delete(uploaded.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (uploaded.id, True, "file")
    assert not (server.data_dir / "files" / uploaded.id).exists()
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(uploaded.id)


def test_a_client_cannot_steer_where_bytes_are_kept(client: OpenAI, server: Server) -> None:
    uploaded = client.files.create(file=("../../escape.txt", b"inside"), purpose="assistants")
    assert uploaded.filename == "../../escape.txt"
    assert (server.data_dir / "files" / uploaded.id).read_bytes() == b"inside"
    assert not (server.data_dir.parent / "escape.txt").exists()
    assert not (server.data_dir / "escape.txt").exists()


@pytest.mark.parametrize(
    ("form", "param", "code"),
    [
        ({"purpose": "assistants"}, "file", "missing_required_parameter"),
        ({"purpose": "assistants_output"}, "purpose", "invalid_value"),
        ({}, "purpose", "missing_required_parameter"),
        ({"purpose": "assistants", "expires_after[anchor]": "created_at",
          "expires_after[seconds]": "60"}, "expires_after[seconds]", "integer_below_min_value"),
        ({"purpose": "assistants", "expires_after[anchor]": "now",
          "expires_after[seconds]": "3600"}, "expires_after[anchor]", "invalid_value"),
    ],
)  # fmt: skip
def test_upload_rejects_bad_input(http: httpx.Client, form: dict, param: str, code: str) -> None:
    files = None if param == "file" else {"file": ("a.txt", b"a")}
    response = http.post("/files", data=form, files=files)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["code"] == code
    assert http.get("/files").json()["data"] == []


def test_expired_files_are_gone_and_reaped(client: OpenAI, server: Server) -> None:
    uploaded = client.files.create(
        file=("soon.txt", b"tick"),
        purpose="assistants",
        expires_after={"anchor": "created_at", "seconds": 3600},
    )
    vector_store = client.vector_stores.create(file_ids=[uploaded.id])

    async def expire(db) -> None:
        async with db.write() as session:
            (await session.get(File, uploaded.id)).expires_at = int(time.time()) - 1

    store.with_db(server.database_url, expire)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)
    assert uploaded.id not in [f.id for f in client.files.list().data]
    storage = FileStorage(server.data_dir / "files")

    async def reap(db) -> int:
        # With the hooks the server runs: an expired file leaves its vector stores too.
        hooks = file_deletion_hooks(await make_index(db))
        return await files_service.reap_expired(db, storage, hooks)

    removed = store.with_db(server.database_url, reap)
    assert removed >= 1
    assert not Path(storage.path(uploaded.id)).exists()
    assert client.vector_stores.files.list(vector_store.id).data == []
