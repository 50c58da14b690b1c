"""No input makes a 500, and nothing stored breaks a read: every operation of Threadline's own
OpenAPI document walked with what neither store can keep (NUL characters, lone surrogates)
in its path parameters, query parameters and JSON body, and with integers past what the
columns hold; on SQLite and PostgreSQL. Each answer is a 400 in the OpenAI error shape
naming the parameter, and every list still reads afterwards."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from openai import OpenAI

from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.server import Server

NUL = "a\u0000b"
SURROGATE = "a\ud800b"
TOO_BIG = (9223372036854775808, 3000000000)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path under /v1, operation) of every operation."""
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method in ("get", "post", "delete"):
                found.append((method.upper(), path.removeprefix("/v1"), operation))
    return found


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema behind references, and behind `anyOf [schema, null]` (an optional body)."""
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
            continue
        options = [option for option in schema.get("anyOf", []) if option != {"type": "null"}]
        if len(options) == 1 and "properties" not in schema:
            schema = options[0]
            continue
        return schema


def body_properties(spec: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    content = (operation.get("requestBody") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return {}
    return resolve(spec, schema).get("properties") or {}


def is_integer(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = resolve(spec, schema)
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(resolve(spec, option).get("type") == "integer" for option in options)


@pytest.fixture
def objects(client: OpenAI, http: httpx.Client, llm: ScriptedBackend) -> dict[str, str]:
    """One real object of each kind, for the path parameters."""
    model = llm.model(always=Text("Hi."))
    assistant = client.beta.assistants.create(model=model)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    message = client.beta.threads.messages.list(thread.id).data[0]
    file = client.files.create(file=("notes.txt", b"notes"), purpose="assistants")
    store = client.vector_stores.create(name="s")
    client.vector_stores.files.create(vector_store_id=store.id, file_id=file.id)
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=[file.id])
    response = client.responses.create(model=model, input="Hello")
    container = client.containers.create(name="c", file_ids=[file.id])
    container_file = client.containers.files.list(container.id).data[0]
    return {
        "assistant_id": assistant.id,
        "thread_id": thread.id,
        "run_id": run.id,
        "step_id": step.id,
        "message_id": message.id,
        "file_id": file.id,
        "vector_store_id": store.id,
        "batch_id": batch.id,
        "model": model,
        "conversation_id": "conv_" + thread.id.removeprefix("thread_"),
        "item_id": message.id,
        "response_id": response.id,
        "container_id": container.id,
        # Under /containers, `{file_id}` names a container file.
        "container_file_id": container_file.id,
    }


def url_of(path: str, objects: dict[str, str], override: dict[str, str] | None = None) -> str:
    values = {**objects, **(override or {})}
    if path.startswith("/containers/") and "file_id" not in (override or {}):
        values["file_id"] = objects["container_file_id"]
    for name, value in values.items():
        path = path.replace("{" + name + "}", escape(value))
    return path


def escape(value: str) -> str:
    # A lone surrogate travels as the bytes UTF-8 would give it (which are no valid UTF-8).
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def send(http: httpx.Client, method: str, url: str, body: Any = None) -> httpx.Response:
    """JSON with \\u escapes, as clients send it (httpx would refuse to encode a surrogate)."""
    if body is None:
        return http.request(method, url)
    content = json.dumps(body).encode()
    return http.request(method, url, content=content, headers={"content-type": "application/json"})


def assert_refused(response: httpx.Response, param: str | None, where: str) -> None:
    assert response.status_code == 400, (where, response.status_code, response.text)
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, where
    assert error["type"] == "invalid_request_error", where
    if param is not None:
        assert error["param"] == param, (where, error)
    assert "cannot be stored" in error["message"] or param is None, (where, error)


def test_every_operation_refuses_what_no_store_keeps(
    http: httpx.Client, objects: dict[str, str], openapi_document: dict[str, Any]
) -> None:
    spec = openapi_document
    walked = 0
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        parameters = operation.get("parameters") or []
        for bad in (NUL, SURROGATE):
            for parameter in parameters:
                name = parameter["name"]
                if parameter["in"] == "path":
                    url = url_of(path, objects, {name: bad})
                    response = send(http, method, url, {} if method == "POST" else None)
                    if bad == NUL:
                        assert_refused(response, name, f"{where} path {name}")
                    else:
                        # A lone surrogate has no UTF-8 form to put in a URL: the percent
                        # escape of its bytes is invalid UTF-8, read as U+FFFD: no such id
                        # (but every model name reaches the default backend: models/service).
                        served = (200,) if path == "/models/{model}" else ()
                        assert response.status_code in (400, 404, *served), (where, response.text)
                elif parameter["in"] == "query":
                    url = f"{url_of(path, objects)}?{escape(name)}={escape(bad)}"
                    response = http.request(method, url)
                    assert_refused(response, name, f"{where} query {name}")
                walked += 1
            for name in body_properties(spec, operation):
                url = url_of(path, objects)
                response = send(http, method, url, {name: bad})
                assert_refused(response, name, f"{where} body {name}")
                nested = send(http, method, url, {name: {"key": [bad]}})
                assert_refused(nested, f"{name}.key[0]", f"{where} body {name} nested")
                walked += 2
            if body_properties(spec, operation):
                key = send(http, method, url_of(path, objects), {"metadata": {bad: "v"}})
                assert_refused(key, f"metadata.{bad}", f"{where} metadata key")
        for name, schema in body_properties(spec, operation).items():
            if is_integer(spec, schema):
                for number in TOO_BIG:
                    response = send(http, method, url_of(path, objects), {name: number})
                    assert response.status_code == 400, (where, name, number, response.text)
                    walked += 1
    assert walked > 300
    # Nothing was stored that breaks a read: every list, and every object, still reads.
    for method, path, _ in operations(spec):
        if method == "GET":
            response = http.get(url_of(path, objects))
            assert response.status_code == 200, (path, response.text)


@pytest.mark.parametrize("number", TOO_BIG)
def test_token_budgets_beyond_the_columns(
    http: httpx.Client, objects: dict[str, str], number: int
) -> None:
    for field in ("max_prompt_tokens", "max_completion_tokens"):
        body = {"assistant_id": objects["assistant_id"], field: number}
        response = http.post(f"/threads/{objects['thread_id']}/runs", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == field
        created = http.post("/threads/runs", json=body)
        assert created.status_code == 400 and created.json()["error"]["param"] == field
    assert http.get(f"/threads/{objects['thread_id']}/runs").json()["data"][0]["status"] in (
        "completed",
    )


def test_examples_from_the_field(http: httpx.Client, objects: dict[str, str]) -> None:
    odd_format = {"type": {}, "json_schema": {"name": "x", "schema": {}}}
    for path, body in (
        ("/assistants", {"model": "x", "response_format": odd_format}),
        ("/threads/runs", {"assistant_id": objects["assistant_id"], "response_format": odd_format}),
    ):
        response = http.post(path, json=body)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "response_format.type"
    # A tool whose type is of the wrong JSON type (fuzzing found `{}` a 500 on all three).
    for wrong in ({}, [], 1, True, None):
        tools = [{"type": wrong}]
        for path, body in (
            ("/assistants", {"model": "x", "tools": tools}),
            ("/threads/runs", {"assistant_id": objects["assistant_id"], "tools": tools}),
            (f"/threads/{objects['thread_id']}/runs",
             {"assistant_id": objects["assistant_id"], "tools": tools}),
        ):  # fmt: skip
            response = http.post(path, json=body)
            assert response.status_code == 400, (path, wrong, response.text)
            assert response.json()["error"]["param"] == "tools[0].type", (path, wrong)
    # The raw escapes of the probes, as a careless client sends them.
    raw = b'{"model":"x","metadata":{"k":"\\ud800"}}'
    response = http.post("/assistants", content=raw, headers={"content-type": "application/json"})
    assert_refused(response, "metadata.k", "surrogate in metadata")
    escaped = b'{"model":"x","name":"a\\\\u0000b"}'  # a backslash, then "u0000": plain text
    kept = http.post("/assistants", content=escaped, headers={"content-type": "application/json"})
    assert kept.status_code == 200 and kept.json()["name"] == "a\\u0000b"
    assert http.get("/assistants").status_code == 200
    for url in ("/threads/%00", "/files/%00/content", "/vector_stores/x/files?after=%00"):
        assert http.get(url).status_code == 400, url
    assert http.post("/threads/%00/runs", json={"assistant_id": "x"}).status_code == 400


# -- every discriminated union of every request body ---------------------------------------


def minimal(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The smallest value `schema` allows, near enough: required keys only, first options."""
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    options = [o for o in schema.get("anyOf", schema.get("oneOf", [])) if o != {"type": "null"}]
    if options:
        return minimal(spec, options[0])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        return {name: minimal(spec, schema["properties"][name]) for name in required}
    if kind == "array":
        return [minimal(spec, schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    return True if kind == "boolean" else None


def tag_of(spec: dict[str, Any], branch: dict[str, Any]) -> tuple[str, list[Any]] | None:
    """(the field, its values) that names `branch` among a union's objects, if one does."""
    for field in ("type", "anchor"):
        schema = resolve(spec, branch).get("properties", {}).get(field)
        if schema is not None:
            schema = resolve(spec, schema)
            values = [schema["const"]] if "const" in schema else schema.get("enum")
            if values:
                return field, values
    return None


def unions(
    spec: dict[str, Any],
    schema: dict[str, Any],
    where: str,
    place: Any,
    seen: frozenset = frozenset(),
) -> Any:
    """(where, the tag field, a valid member, place, whether the tag may be null) for each
    union of objects told apart by a tag inside `schema`, at any depth; `place(value)` is a
    whole body with `value` there. (An `item_reference`'s `type` may be null or left out.)"""
    ref = schema.get("$ref")
    if ref in seen:  # a recursive schema (compound filters): once is enough
        return
    seen = seen | {ref} if ref else seen
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    options = [o for o in schema.get("anyOf", schema.get("oneOf", [])) if o != {"type": "null"}]
    for option in options:
        branch = resolve(spec, option)
        tagged = tag_of(spec, branch)
        if tagged is not None and len(options) > 1:
            tag = branch.get("properties", {}).get(tagged[0], {})
            nullable = {"type": "null"} in tag.get("anyOf", [])
            yield where, tagged[0], minimal(spec, branch), place, nullable
        yield from unions(spec, option, where, place, seen)
    if "properties" in schema:
        base = minimal(spec, schema)
        for name, child in schema["properties"].items():
            inside = f"{where}.{name}" if where else name
            yield from unions(
                spec, child, inside, lambda v, n=name, b=base, p=place: p({**b, n: v}), seen
            )
    if schema.get("type") == "array" and "items" in schema:
        yield from unions(spec, schema["items"], f"{where}[0]", lambda v, p=place: p([v]), seen)


def test_every_union_refuses_a_wrong_tag(
    http: httpx.Client, objects: dict[str, str], openapi_document: dict[str, Any]
) -> None:
    """Walked from the document, so that a new union is covered without being listed: a tag
    of the wrong JSON type, or one no member has, is a 400 naming the tag."""
    spec = openapi_document
    seen: set[tuple[str, str]] = set()
    for method, path, operation in operations(spec):
        content = (operation.get("requestBody") or {}).get("content") or {}
        body = (content.get("application/json") or {}).get("schema")
        if method != "POST" or body is None:
            continue
        for where, field, member, place, nullable in unions(spec, body, "", lambda v: v):
            seen.add((where, field))
            for wrong in ({}, [], 1, True, *(() if nullable else (None,)), "no_such_kind"):
                sent = place({**member, field: wrong})
                response = send(http, method, url_of(path, objects), sent)
                assert response.status_code == 400, (method, path, sent, response.text)
                error = response.json()["error"]
                assert error["param"] == f"{where}.{field}", (method, path, sent, error)
    named = {where for where, _ in seen}
    # The unions a reader would list, among those found.
    for known in ("tools[0]", "tool_choice", "response_format", "chunking_strategy",
                  "filters", "messages[0].content[0]", "tool_resources.file_search"
                  ".vector_stores[0].chunking_strategy"):  # fmt: skip
        assert known in named, (known, sorted(named))


def test_a_vector_store_made_on_the_spot_keeps_the_metadata_bounds(http: httpx.Client) -> None:
    """The helper that builds a vector store from `tool_resources` holds its metadata to the
    same bounds as the vector store API (16 keys, 64-character keys, 512-character values)."""
    where = "tool_resources.file_search.vector_stores[0].metadata"
    for metadata in ({f"k{n}": "v" for n in range(17)}, {"k" * 65: "v"}, {"k": "v" * 513}):
        store = {"file_ids": [], "metadata": metadata}
        body = {"model": "x", "tools": [{"type": "file_search"}],
                "tool_resources": {"file_search": {"vector_stores": [store]}}}  # fmt: skip
        response = http.post("/assistants", json=body)
        assert response.status_code == 400, (metadata, response.text)
        assert response.json()["error"]["param"].startswith(where), response.json()


def multipart(filename: bytes, purpose: bytes = b"assistants") -> tuple[bytes, dict]:
    """A form built by hand: clients differ in how (and whether) they escape a filename."""
    body = (
        b"--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n" + purpose + b"\r\n"
        b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + filename
        + b"\"\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n"
    )  # fmt: skip
    return body, {"content-type": "multipart/form-data; boundary=b"}


def test_multipart_names_and_fields(http: httpx.Client) -> None:
    body, headers = multipart(b"a\x00b.txt")
    nul = http.post("/files", content=body, headers=headers)
    assert_refused(nul, "file", "NUL in a filename")
    body, headers = multipart(b"\xed\xa0\x80.txt")  # a surrogate's bytes: no valid UTF-8
    odd = http.post("/files", content=body, headers=headers)
    assert odd.status_code in (200, 400), odd.text
    body, headers = multipart(b"ok.txt", purpose=b"assist\x00ants")
    assert http.post("/files", content=body, headers=headers).status_code == 400
    empty = http.post("/files", files={"file": ("", b"x")}, data={"purpose": "assistants"})
    assert empty.status_code == 400, empty.text
    error = empty.json()["error"]
    assert error["param"] == "file" and "class" not in error["message"]
    assert http.get("/files").status_code == 200


def test_an_unexpected_error_keeps_the_connection(tmp_path: Path) -> None:
    db_file = tmp_path / "threadline.db"
    server = Server(database_url=f"sqlite+aiosqlite:///{db_file}", data_dir=tmp_path).start()
    try:
        with sqlite3.connect(db_file) as connection:
            connection.execute("DROP TABLE assistants")  # the store fails under the server
        with httpx.Client(base_url=server.base_url, timeout=30) as raw:
            broken = raw.get("/assistants")
            assert broken.status_code == 500
            assert broken.json()["error"]["type"] == "server_error"
            assert broken.headers.get("connection", "").lower() != "close"
            assert raw.get("/threads/thread_missing").status_code == 404
        assert json.loads(broken.text)["error"]["message"].startswith("The server had an error")
    finally:
        server.stop()
