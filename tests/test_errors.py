"""Every failure is a 4xx in the OpenAI error shape, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.server import Server
from tests.support.store import create_key
from tests.support.wire import HOOKS


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    # Client errors are final; the SDKs must not retry them.
    assert response.headers.get("x-should-retry") == "false"
    return body["error"]


def test_unknown_ids_are_404_with_the_object_named(http: httpx.Client, client: OpenAI) -> None:
    thread = client.beta.threads.create()
    for path, kind, object_id in (
        ("/assistants/asst_missing", "assistant", "asst_missing"),
        ("/threads/thread_missing", "thread", "thread_missing"),
        (f"/threads/{thread.id}/messages/msg_missing", "message", "msg_missing"),
        (f"/threads/{thread.id}/runs/run_missing", "run", "run_missing"),
        (f"/threads/{thread.id}/runs/run_missing/steps", "run", "run_missing"),
        ("/files/file-missing", "file", "file-missing"),
        ("/files/file-missing/content", "file", "file-missing"),
    ):
        error = assert_error(http.get(path), 404)
        assert error["message"] == f"No {kind} found with id '{object_id}'."
        assert error["type"] == "invalid_request_error"
    for path in ("/assistants/asst_missing", "/threads/thread_missing", "/files/file-missing"):
        assert_error(http.delete(path), 404)
        if not path.startswith("/files"):
            assert_error(http.post(path, json={"metadata": {"a": "b"}}), 404)


@pytest.fixture
def stranger(server: Server) -> Iterator[OpenAI]:
    """A client of another project."""
    with make_client(server, create_key(server.database_url, "stranger")) as other:
        yield other


def test_another_projects_objects_are_invisible(client: OpenAI, stranger: OpenAI) -> None:
    assistant = client.beta.assistants.create(model="m")
    upload = client.files.create(file=("a.txt", b"a"), purpose="assistants")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "secret"}])
    message = client.beta.threads.messages.list(thread.id).data[0]

    attempts = [
        lambda: stranger.beta.assistants.retrieve(assistant.id),
        lambda: stranger.beta.assistants.update(assistant.id, name="mine"),
        lambda: stranger.beta.assistants.delete(assistant.id),
        lambda: stranger.beta.threads.retrieve(thread.id),
        lambda: stranger.beta.threads.update(thread.id, metadata={"a": "b"}),
        lambda: stranger.beta.threads.delete(thread.id),
        lambda: stranger.beta.threads.messages.list(thread.id),
        lambda: stranger.beta.threads.messages.create(thread.id, role="user", content="x"),
        lambda: stranger.beta.threads.messages.retrieve(message.id, thread_id=thread.id),
        lambda: stranger.beta.threads.runs.list(thread.id),
        lambda: stranger.files.retrieve(upload.id),
        lambda: stranger.files.content(upload.id),
        lambda: stranger.files.delete(upload.id),
    ]
    import openai

    for attempt in attempts:
        with pytest.raises(openai.NotFoundError):
            attempt()
    # Nor can its files be referenced.
    with pytest.raises(openai.BadRequestError):
        stranger.beta.assistants.create(
            model="m", tool_resources={"code_interpreter": {"file_ids": [upload.id]}}
        )
    assert all(a.id != assistant.id for a in stranger.beta.assistants.list())
    assert all(f.id != upload.id for f in stranger.files.list())
    # And nothing changed for the owner.
    assert client.beta.assistants.retrieve(assistant.id).name is None
    assert client.beta.threads.retrieve(thread.id).metadata == {}
    assert client.files.content(upload.id).read() == b"a"
    assert len(client.beta.threads.messages.list(thread.id).data) == 1


def test_wrong_method_is_405(http: httpx.Client) -> None:
    """A 405 lists in `Allow` every method the path answers, not only one route's."""
    for method, path, allow in (
        ("PUT", "/assistants", "GET, POST"),
        ("OPTIONS", "/assistants", "GET, POST"),
        ("PATCH", "/threads/thread_x", "GET, POST, DELETE"),
        ("DELETE", "/assistants", "GET, POST"),
        ("OPTIONS", "/assistants/asst_x", "GET, POST, DELETE"),
        ("POST", "/files/file-x/content", "GET"),
        ("PUT", "/threads/thread_x/runs/run_x/steps", "GET"),
        ("PUT", "/threads/thread_x/messages", "GET, POST"),
        ("PATCH", "/vector_stores/vs_x/files/file-x", "GET, POST, DELETE"),
        ("HEAD", "/files", "GET, POST"),
    ):
        response = http.request(method, path)
        assert response.headers["allow"] == allow, (method, path)
        if method == "HEAD":
            assert response.status_code == 405 and not response.content
            continue
        error = assert_error(response, 405)
        assert error["message"] == f"Method not allowed ({method} /v1{path})"


def test_unknown_route_is_404(http: httpx.Client) -> None:
    error = assert_error(http.get("/assistant"), 404)
    assert error["message"] == "Invalid URL (GET /v1/assistant)"
    assert_error(http.post("/threads/thread_x/runs/run_x/nope"), 404)


def test_malformed_json_is_400_and_changes_nothing(http: httpx.Client) -> None:
    for body in (b"{", b"[1, 2]", b'"model"', b"\xff\xfe", b'{"model": "m",}'):
        response = http.post(
            "/assistants", content=body, headers={"content-type": "application/json"}
        )
        error = assert_error(response, 400)
        assert error["type"] == "invalid_request_error"
    assert http.get("/assistants").json()["data"] == []


def test_body_type_errors_name_the_param(http: httpx.Client) -> None:
    error = assert_error(http.post("/threads", json={"messages": "hello"}), 400)
    assert (error["param"], error["code"]) == ("messages", "invalid_type")
    error = assert_error(http.post("/threads", json={"metadata": ["a"]}), 400)
    assert (error["param"], error["code"]) == ("metadata", "invalid_type")


@pytest.fixture
def small_server(spawn: ServerFactory) -> Server:
    """A server with tiny body limits, to show the 413s."""
    return spawn({"THREADLINE_MAX_JSON_BODY_BYTES": "4096", "THREADLINE_MAX_UPLOAD_BYTES": "65536"})


def test_oversized_bodies_are_413(small_server: Server) -> None:
    key = create_key(small_server.database_url, "small")
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=small_server.base_url, headers=headers, event_hooks=HOOKS) as raw:
        error = assert_error(
            raw.post("/assistants", json={"model": "m", "instructions": "x" * 5000}), 413
        )
        assert error["code"] == "request_too_large"

        # Without a Content-Length the limit still holds while the body streams in.
        def chunks() -> Iterator[bytes]:
            yield b'{"model": "m", "instructions": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        assert_error(
            raw.post("/assistants", content=chunks(), headers={"content-type": "application/json"}),
            413,
        )
        assert_error(raw.post("/files", data={"purpose": "assistants"},
                              files={"file": ("big.bin", b"0" * 200_000)}), 413)  # fmt: skip
        assert raw.get("/assistants").json()["data"] == []
        assert raw.get("/files").json()["data"] == []
        # Just under the limits all is well.
        assert raw.post("/assistants", json={"model": "m", "instructions": "x" * 3000}).is_success
        ok = raw.post("/files", data={"purpose": "assistants"},
                      files={"file": ("ok.bin", b"0" * 60_000)})  # fmt: skip
        assert ok.is_success, ok.text
