"""The Containers API: containers (code_interpreter sandbox sessions) and their files, through
the official SDK on SQLite and PostgreSQL. A container's files are copies kept in the files
store under their own ids; a container idle for longer than its `expires_after` minutes is
`expired` (read and deleted, never added to)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import update

from tests.conftest import make_client
from tests.support import store
from tests.support.server import Server
from threadline.containers import files, service
from threadline.containers.models import Container
from threadline.errors import InvalidRequest, NotFound
from threadline.files.storage import FileStorage
from threadline.projects import service as projects


def on_disk(server: Server, object_id: str) -> Path:
    return server.data_dir / "files" / object_id


def idle_since(server: Server, container_id: str, seconds_ago: int) -> None:
    """Move the container's last activity back, as if it had been idle that long: the
    server reads expiry from `last_active_at` at each request."""

    async def work(db) -> None:
        async with db.write() as session:
            await session.execute(
                update(Container)
                .where(Container.id == container_id)
                .values(last_active_at=int(time.time()) - seconds_ago)
            )

    store.with_db(server.database_url, work)


def upload(client: OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, data), purpose="user_data").id


def test_create_with_files_read_and_delete(client: OpenAI, server: Server) -> None:
    notes = upload(client, "notes.txt", b"first notes")
    again = upload(client, "notes.txt", b"other notes, same name")
    table = upload(client, "dir/table.csv", b"a,b\n1,2\n")
    container = client.containers.create(name="Analysis", file_ids=[notes, again, table, notes])
    assert container.id.startswith("cntr_") and container.object == "container"
    assert container.name == "Analysis" and container.status == "running"
    assert container.expires_after.anchor == "last_active_at"
    assert container.expires_after.minutes == 20
    assert container.memory_limit == "1g" and container.network_policy.type == "disabled"
    assert container.last_active_at == container.created_at
    assert client.containers.retrieve(container.id).model_dump() == container.model_dump()

    listed = list(client.containers.files.list(container.id, order="asc"))
    # A file named twice is copied once; a name taken already gets the copy's id.
    assert [f.bytes for f in listed] == [11, 22, 8]
    assert listed[0].path == "/mnt/data/notes.txt"
    assert listed[1].path == f"/mnt/data/notes-{listed[1].id}.txt"
    assert listed[2].path == "/mnt/data/table.csv"
    for item, data in zip(
        listed, (b"first notes", b"other notes, same name", b"a,b\n1,2\n"), strict=True
    ):
        assert item.id.startswith("cfile_") and item.object == "container.file"
        assert item.container_id == container.id and item.source == "user"
        again_read = client.containers.files.retrieve(item.id, container_id=container.id)
        assert again_read.model_dump() == item.model_dump()
        got = client.containers.files.content.retrieve(item.id, container_id=container.id)
        assert got.read() == data
        # A copy: it stays when the file it came from goes.
        assert on_disk(server, item.id).read_bytes() == data
    client.files.delete(notes)
    got = client.containers.files.content.retrieve(listed[0].id, container_id=container.id)
    assert got.read() == b"first notes"

    client.containers.delete(container.id)
    with pytest.raises(openai.NotFoundError) as error:
        client.containers.retrieve(container.id)
    assert error.value.body["message"] == f"No container found with id '{container.id}'."
    assert not any(on_disk(server, item.id).exists() for item in listed)
    with pytest.raises(openai.NotFoundError):
        client.containers.files.list(container.id)


def test_create_takes_every_option(http: httpx.Client) -> None:
    body = {
        "name": "Options",
        "expires_after": {"anchor": "last_active_at", "minutes": 5},
        "memory_limit": "4g",
        "network_policy": {"type": "disabled"},
        "skills": [],
    }
    created = http.post("/containers", json=body)
    assert created.status_code == 200, created.text
    container = created.json()
    assert container["expires_after"] == {"anchor": "last_active_at", "minutes": 5}
    assert container["memory_limit"] == "4g"
    assert container["network_policy"] == {"type": "disabled"}
    assert set(container) == {
        "id", "object", "name", "created_at", "status", "last_active_at", "expires_after",
        "memory_limit", "network_policy",
    }  # fmt: skip
    deleted = http.delete(f"/containers/{container['id']}")
    assert deleted.json() == {"id": container["id"], "object": "container.deleted", "deleted": True}


def test_list_pages_orders_and_filters_by_name(client: OpenAI) -> None:
    made = [client.containers.create(name="even" if n % 2 == 0 else "odd") for n in range(5)]
    ids = [c.id for c in made]
    assert [c.id for c in client.containers.list(limit=2)] == ids[::-1]
    assert [c.id for c in client.containers.list(limit=2, order="asc")] == ids
    first = client.containers.list(limit=2, order="asc")
    assert [c.id for c in first.data] == ids[:2] and first.has_more
    assert first.first_id == ids[0] and first.last_id == ids[1]
    rest = client.containers.list(limit=3, order="asc", after=ids[1])
    assert [c.id for c in rest.data] == ids[2:] and not rest.has_more
    assert [c.id for c in client.containers.list(name="even", order="asc")] == ids[::2]
    assert [c.id for c in client.containers.list(name="odd", limit=1)] == ids[3::-2]
    nothing = client.containers.list(name="none")
    assert nothing.data == [] and not nothing.has_more
    # A cursor still places the page after its container is gone.
    client.containers.delete(ids[1])
    after_gone = client.containers.list(order="asc", after=ids[1])
    assert [c.id for c in after_gone.data] == ids[2:]


def test_files_added_by_upload_and_by_id(client: OpenAI, http: httpx.Client) -> None:
    container = client.containers.create(name="Files")
    uploaded = client.containers.files.create(container.id, file=("data.json", b'{"a": 1}'))
    assert uploaded.path == "/mnt/data/data.json" and uploaded.bytes == 8
    assert uploaded.source == "user" and uploaded.container_id == container.id
    source = upload(client, "report.md", b"# Report\n")
    by_id = client.containers.files.create(container.id, file_id=source)
    assert by_id.path == "/mnt/data/report.md" and by_id.bytes == 9
    # The same name again is kept beside it, under a path of its own.
    twin = client.containers.files.create(container.id, file=("data.json", b"[]"))
    assert twin.path == f"/mnt/data/data-{twin.id}.json"
    # The JSON form, as curl sends it.
    raw = http.post(f"/containers/{container.id}/files", json={"file_id": source})
    assert raw.status_code == 200, raw.text
    assert raw.json()["path"] == f"/mnt/data/report-{raw.json()['id']}.md"

    page = client.containers.files.list(container.id, limit=2)
    assert [f.id for f in page.data] == [raw.json()["id"], twin.id] and page.has_more
    everything = list(client.containers.files.list(container.id, limit=2, order="asc"))
    assert [f.id for f in everything] == [uploaded.id, by_id.id, twin.id, raw.json()["id"]]

    content = http.get(f"/containers/{container.id}/files/{uploaded.id}/content")
    assert content.content == b'{"a": 1}'
    assert content.headers["content-type"].startswith("application/json")
    markdown = http.get(f"/containers/{container.id}/files/{by_id.id}/content")
    assert markdown.content == b"# Report\n"

    deleted = http.delete(f"/containers/{container.id}/files/{twin.id}")
    assert deleted.json() == {"id": twin.id, "object": "container.file.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError) as error:
        client.containers.files.retrieve(twin.id, container_id=container.id)
    assert error.value.body["message"] == f"No container file found with id '{twin.id}'."
    assert twin.id not in [f.id for f in client.containers.files.list(container.id)]
    # A file of one container is not found through another.
    other = client.containers.create(name="Other")
    with pytest.raises(openai.NotFoundError):
        client.containers.files.retrieve(uploaded.id, container_id=other.id)
    assert client.containers.files.list(other.id).data == []


def assert_400(response: httpx.Response, param: str | None) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    return error


def test_bad_requests_change_nothing(http: httpx.Client, client: OpenAI) -> None:
    assert_400(http.post("/containers", json={}), "name")
    assert_400(http.post("/containers", json={"name": 1}), "name")
    assert_400(http.post("/containers", json={"name": "x", "memory_limit": "2g"}), "memory_limit")
    expiry = {"anchor": "created_at", "minutes": 5}
    assert_400(http.post("/containers", json={"name": "x", "expires_after": expiry}),
               "expires_after.anchor")  # fmt: skip
    for minutes in (0, -1, "5"):
        expiry = {"anchor": "last_active_at", "minutes": minutes}
        assert_400(http.post("/containers", json={"name": "x", "expires_after": expiry}),
                   "expires_after.minutes")  # fmt: skip
    allowlist = {"type": "allowlist", "allowed_domains": ["example.com"]}
    refused = assert_400(
        http.post("/containers", json={"name": "x", "network_policy": allowlist}),
        "network_policy",
    )
    assert "no network" in refused["message"]
    skills = [{"type": "skill_reference", "skill_id": "openai-spreadsheets"}]
    assert (
        "not available"
        in assert_400(http.post("/containers", json={"name": "x", "skills": skills}), "skills")[
            "message"
        ]
    )
    unknown = assert_400(
        http.post("/containers", json={"name": "x", "file_ids": ["file-nope"]}), "file_ids[0]"
    )
    assert unknown["message"] == "No file found with id 'file-nope'."
    assert_400(http.post("/containers", json={"name": "x", "extra": True}), "extra")
    assert client.containers.list().data == []

    container = client.containers.create(name="Target")
    files = f"/containers/{container.id}/files"
    source = upload(client, "a.txt", b"a")
    # Neither or both of `file` and `file_id`; a `file` that is no upload.
    assert_400(http.post(files, json={}), "file_id")
    assert_400(http.post(files, content=b""), "file_id")
    assert_400(http.post(files, json={"file_id": None}), "file_id")
    assert_400(http.post(files, files={"other": (None, "x")}), "file")
    both = http.post(files, files={"file_id": (None, source), "file": ("b.txt", b"b")})
    assert "not both" in assert_400(both, "file")["message"]
    assert_400(http.post(files, files={"file": (None, "not a file")}), "file")
    assert_400(http.post(files, files={"file": ("", b"x")}), "file")
    assert_400(http.post(files, json={"file_id": 3}), "file_id")
    assert_400(http.post(files, json={"file": "x"}), "file")
    assert_400(http.post(files, json={"file_id": "file-nope"}), "file_id")
    # What no store keeps, in the form's fields (JSON bodies are checked before any route).
    nul_name = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
    )
    form_headers = {"content-type": "multipart/form-data; boundary=b"}
    assert_400(http.post(files, content=nul_name, headers=form_headers), "file")
    assert_400(http.post(files, files={"file_id": (None, "file-\x00")}), "file_id")
    bad_json = http.post(files, content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]["message"]
    # The multipart form of `file_id`, as the SDK sends it.
    form = http.post(files, files={"file_id": (None, source)})
    assert form.status_code == 200 and form.json()["path"] == "/mnt/data/a.txt"
    assert [f.id for f in client.containers.files.list(container.id)] == [form.json()["id"]]

    for method, path in (
        ("GET", "/containers/cntr_nope"),
        ("DELETE", "/containers/cntr_nope"),
        ("GET", "/containers/cntr_nope/files"),
        ("POST", "/containers/cntr_nope/files"),
        ("GET", f"{files}/cfile_nope"),
        ("DELETE", f"{files}/cfile_nope"),
        ("GET", f"{files}/cfile_nope/content"),
    ):
        body = {"file_id": source} if method == "POST" else None
        missing = http.request(method, path, json=body)
        assert missing.status_code == 404, (method, path, missing.text)
    assert_400(http.get("/containers", params={"after": "not-an-id"}), "after")
    assert_400(http.get("/containers", params={"limit": 101}), "limit")
    assert_400(http.get(files, params={"order": "sideways"}), "order")


def test_another_projects_containers_are_not_found(server: Server, client: OpenAI) -> None:
    container = client.containers.create(name="Mine")
    theirs = store.create_key(server.database_url, f"test-{uuid.uuid4().hex[:12]}")
    with make_client(server, theirs) as other:
        with pytest.raises(openai.NotFoundError):
            other.containers.retrieve(container.id)
        with pytest.raises(openai.NotFoundError):
            other.containers.files.create(container.id, file=("x.txt", b"x"))
        with pytest.raises(openai.NotFoundError):
            other.containers.delete(container.id)
        assert other.containers.list().data == []
        # Nor may a container be made from another project's file.
        foreign = other.files.create(file=("x.txt", b"x"), purpose="user_data")
    with pytest.raises(openai.BadRequestError):
        client.containers.create(name="x", file_ids=[foreign.id])
    assert client.containers.retrieve(container.id).status == "running"


def test_an_idle_container_expires(client: OpenAI, server: Server, http: httpx.Client) -> None:
    container = client.containers.create(
        name="Short", expires_after={"anchor": "last_active_at", "minutes": 1}
    )
    added = client.containers.files.create(container.id, file=("kept.txt", b"kept"))
    # Adding a file is activity: it pushes the expiry back.
    idle_since(server, container.id, 50)
    client.containers.files.create(container.id, file=("more.txt", b"more"))
    touched = client.containers.retrieve(container.id)
    assert touched.status == "running" and touched.last_active_at >= int(time.time()) - 5

    idle_since(server, container.id, 61)
    expired = client.containers.retrieve(container.id)
    assert expired.status == "expired"
    assert [c.status for c in client.containers.list()] == ["expired"]
    with pytest.raises(openai.BadRequestError) as refused:
        client.containers.files.create(container.id, file=("late.txt", b"late"))
    assert refused.value.body["message"].startswith(f"Container {container.id} has expired")
    source = upload(client, "late.txt", b"late")
    late = http.post(f"/containers/{container.id}/files", json={"file_id": source})
    assert late.status_code == 400
    # Nothing was added, nor its activity noted; what it has is still read, and it goes.
    assert len(client.containers.files.list(container.id).data) == 2
    assert client.containers.retrieve(container.id).last_active_at == expired.last_active_at
    got = client.containers.files.content.retrieve(added.id, container_id=container.id)
    assert got.read() == b"kept"
    # The server's reaper drops an expired container's files, bytes too; it stays, expired.
    storage = FileStorage(server.data_dir / "files")
    dropped = store.with_db(server.database_url, lambda db: service.drop_expired_files(db, storage))
    assert dropped >= 2 and client.containers.files.list(container.id).data == []
    assert not on_disk(server, added.id).exists()
    assert client.containers.retrieve(container.id).status == "expired"
    client.containers.delete(container.id)
    assert client.containers.list().data == []


def test_container_files_count_toward_the_storage_quota(server: Server) -> None:
    name = f"quota-{uuid.uuid4().hex[:12]}"
    key = store.create_key(server.database_url, name)
    limits = {"max_file_bytes": 1000}
    store.with_db(server.database_url, lambda db: projects.set_project_limits(db, name, limits))
    with make_client(server, key) as sdk:
        big = sdk.files.create(file=("big.txt", b"b" * 600), purpose="user_data")
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.containers.create(name="copy", file_ids=[big.id])
        error = refused.value.body
        assert error["code"] == "quota_exceeded" and error["param"] == "file_ids"
        assert "600 are used" in error["message"]
        assert sdk.containers.list().data == []

        container = sdk.containers.create(name="room")
        kept = sdk.containers.files.create(container.id, file=("c.txt", b"c" * 300))
        before = set((server.data_dir / "files").iterdir())
        with pytest.raises(openai.BadRequestError) as over:
            sdk.containers.files.create(container.id, file=("d.txt", b"d" * 101))
        assert over.value.body["code"] == "quota_exceeded" and over.value.body["param"] == "file"
        with pytest.raises(openai.BadRequestError) as copy_over:
            sdk.containers.files.create(container.id, file_id=big.id)
        assert copy_over.value.body["param"] == "file_id"
        # The refused bytes are not kept.
        assert set((server.data_dir / "files").iterdir()) == before
        # A container's files count for uploads to the Files API too.
        with pytest.raises(openai.BadRequestError) as upload_over:
            sdk.files.create(file=("e.txt", b"e" * 101), purpose="user_data")
        assert "900 are used" in upload_over.value.body["message"]
        # Deleting a container makes room; what fits exactly is taken.
        sdk.containers.files.retrieve(kept.id, container_id=container.id)
        sdk.containers.delete(container.id)
        sdk.files.create(file=("e.txt", b"e" * 101), purpose="user_data")
        again = sdk.containers.create(name="again")
        sdk.containers.files.create(again.id, file=("f.txt", b"f" * 299))
        with pytest.raises(openai.BadRequestError):
            sdk.containers.files.create(again.id, file=("g.txt", b"g"))


def test_what_the_code_interpreter_integration_calls(
    client: OpenAI, server: Server, http: httpx.Client
) -> None:
    """The session-level functions a response's code_interpreter calls in its own
    transaction: files the code writes, an `auto` container, expiry, the wire objects."""
    container = client.containers.create(name="Session")
    source = upload(client, "input.csv", b"x\n1\n")
    storage = FileStorage(server.data_dir / "files")

    async def project_of(session) -> str:
        return (await session.get(Container, container.id)).project_id

    async def write(db) -> list[str]:
        async with db.write() as session:
            project_id = await project_of(session)
            row = await service.get_container(session, project_id, container.id)
            service.require_running(row, "tools[0].container")
            first = await files.write_file(
                session, storage, project_id, container.id, "out/plot.png", b"png1"
            )
            # The same path again: new bytes, the same file.
            second = await files.write_file(
                session, storage, project_id, container.id, "/mnt/data/out/plot.png", b"png22"
            )
            assert second.id == first.id and second.bytes == 5
            for bad in ("../escape.txt", "", "/etc/passwd"):
                with pytest.raises(InvalidRequest):
                    await files.write_file(session, storage, project_id, container.id, bad, b"")
            auto = await service.create_container(
                session, storage, project_id, name="auto", file_ids=[source], minutes=5
            )
            listed = [files.file_object(f) for f in await service.container_files(session, auto.id)]
            return [first.id, service.container_object(auto)["id"], listed[0]["path"]]

    written, auto_id, auto_path = store.with_db(server.database_url, write)
    assert auto_path == "/mnt/data/input.csv"
    item = client.containers.files.retrieve(written, container_id=container.id)
    assert item.path == "/mnt/data/out/plot.png" and item.source == "assistant"
    assert item.bytes == 5
    got = client.containers.files.content.retrieve(written, container_id=container.id)
    assert got.read() == b"png22"
    assert http.get(f"/containers/{auto_id}").json()["expires_after"]["minutes"] == 5

    async def rolled_back(db) -> str:
        """A file written in a transaction that fails leaves neither row nor bytes."""
        kept: list[str] = []
        with pytest.raises(RuntimeError):
            async with db.write() as session:
                project_id = await project_of(session)
                row = await files.write_file(
                    session, storage, project_id, container.id, "lost.txt", b"lost"
                )
                kept.append(row.id)
                assert storage.path(row.id).exists()
                raise RuntimeError("the response failed")
        return kept[0]

    lost = store.with_db(server.database_url, rolled_back)
    assert not storage.path(lost).exists()
    assert [f.id for f in client.containers.files.list(container.id)] == [written]

    async def refused(db) -> None:
        async with db.write() as session:
            project_id = await project_of(session)
            with pytest.raises(InvalidRequest) as error:
                await service.create_container(
                    session, storage, project_id, name="auto", file_ids=["file-nope"],
                    param="tools[0].container.file_ids",
                )  # fmt: skip
            assert error.value.param == "tools[0].container.file_ids[0]"
            with pytest.raises(NotFound):
                await service.get_container(session, "proj_other", container.id)
            row = await service.get_container(session, project_id, container.id)
            row.last_active_at -= 21 * 60
            assert service.is_expired(row)
            with pytest.raises(InvalidRequest) as expired:
                service.require_running(row, "tools[0].container")
            assert expired.value.param == "tools[0].container"
            await service.touch(session, row)
            assert not service.is_expired(row)

    store.with_db(server.database_url, refused)
