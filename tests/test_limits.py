"""Rate limits and storage quotas, on real servers: requests and tokens per minute per project
and per key (429 `rate_limit_exceeded`, `Retry-After`, the `x-ratelimit-*` headers), storage
quotas (400 `quota_exceeded`, nothing kept), the counters shared through Redis by two API
processes, and a vector store's description."""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from tests.conftest import ENGINE_ENV, ServerFactory, make_client
from tests.support import store
from tests.support.cluster import Cluster
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.server import Server
from tests.support.wire import HOOKS
from threadline.files.models import File
from threadline.projects import service as projects
from threadline.ratelimit.buckets import Draw, MemoryBuckets, go_duration
from threadline.runs.models import Run
from threadline.vector_stores.models import VectorStore

RATE_HEADERS = [
    f"x-ratelimit-{part}-{kind}"
    for kind in ("requests", "tokens")
    for part in ("limit", "remaining", "reset")
]
# Go's duration format, as OpenAI writes it: 0s, 20ms, 1s, 8.64s, 6m0s, 1h2m3.5s.
DURATION = re.compile(r"^(0s|\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$")


def seconds(duration: str) -> float:
    if duration.endswith("ms"):
        return int(duration[:-2]) / 1000
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)([hms])", duration):
        total += float(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def new_project(server: Server, **limits: int | None) -> tuple[str, str]:
    """A project of its own with these limits, and a key of it: (name, key)."""
    name = f"limits-{uuid.uuid4().hex[:12]}"
    key = store.create_key(server.database_url, name)
    if limits:
        store.with_db(server.database_url, lambda db: projects.set_project_limits(db, name, limits))
    return name, key


def raw(server: Server, key: str) -> httpx.Client:
    return httpx.Client(
        event_hooks=HOOKS,
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def until_refused(client: httpx.Client, most: int = 200) -> tuple[list[httpx.Response], float]:
    """GETs until one is answered 429: the answers, and how long that took."""
    answers: list[httpx.Response] = []
    began = time.monotonic()
    for _ in range(most):
        answers.append(client.get("/assistants"))
        if answers[-1].status_code == 429:
            return answers, time.monotonic() - began
    raise AssertionError(f"no 429 in {most} requests")


def assert_refusal(answer: httpx.Response, kind: str) -> float:
    """A 429 as the hosted API answered it; the wait it asks for, in seconds."""
    assert answer.status_code == 429
    error = answer.json()["error"]
    assert error["type"] == kind and error["code"] == "rate_limit_exceeded"
    assert error["param"] is None
    assert f"{kind} per min" in error["message"] and "Please try again in" in error["message"]
    assert "x-should-retry" not in answer.headers  # the SDKs retry a 429
    retry_after = int(answer.headers["retry-after"])
    wait_ms = int(answer.headers["retry-after-ms"])
    assert retry_after >= 1 and retry_after == max(1, -(-wait_ms // 1000))
    assert answer.headers[f"x-ratelimit-remaining-{kind}"] == "0"
    return wait_ms / 1000


# -- the counting itself, without a server --------------------------------------------------------


def test_duration_format_is_openais() -> None:
    assert [go_duration(s) for s in (0, 0.0004, 0.02, 1, 8.64, 60, 360, 3723.5)] == [
        "0s", "1ms", "20ms", "1s", "8.64s", "1m0s", "6m0s", "1h2m3.5s",
    ]  # fmt: skip


@pytest.mark.anyio
async def test_buckets_refill_at_the_limit_per_minute_and_go_below_empty() -> None:
    now = [100.0]
    buckets = MemoryBuckets(clock=lambda: now[0])
    one = [Draw("r", 60, cost=1, need=1)]
    for _ in range(60):
        assert (await buckets.draw(one)).admitted
    refused = await buckets.draw(one)
    assert not refused.admitted and refused.levels == [0.0]
    now[0] += 1.0  # a request a second comes back
    assert (await buckets.draw(one)).admitted
    # Usage is taken even below empty, and repaid at the rate.
    used = await buckets.draw([Draw("t", 600, cost=700)], force=True)
    assert used.levels == [-100.0]
    assert not (await buckets.draw([Draw("t", 600, need=1)])).admitted
    assert (await buckets.draw([Draw("t", 600)])).admitted  # no need: no check
    now[0] += 10.1
    assert (await buckets.draw([Draw("t", 600, need=1)])).admitted
    # A group is all or nothing.
    while (await buckets.draw(one)).admitted:
        pass
    both = [Draw("a", 10, cost=1, need=1), Draw("r", 60, cost=1, need=1)]
    assert not (await buckets.draw(both)).admitted
    assert (await buckets.draw([Draw("a", 10)])).levels == [10.0]


# -- requests per minute --------------------------------------------------------------------


def test_no_limits_no_headers(server: Server) -> None:
    _, key = new_project(server)
    with raw(server, key) as client:
        for _ in range(5):
            answer = client.get("/assistants")
            assert answer.status_code == 200
            assert not set(RATE_HEADERS) & set(answer.headers)


def test_requests_limit_is_hit_then_recovered(server: Server) -> None:
    _, key = new_project(server, requests_per_minute=30)
    with raw(server, key) as client:
        answers, took = until_refused(client)
        admitted = answers[:-1]
        # A full bucket of 30, and what refilled meanwhile (one each 2 s).
        assert 30 <= len(admitted) <= 30 + took / 2 + 1
        remaining = [int(a.headers["x-ratelimit-remaining-requests"]) for a in admitted]
        assert remaining[0] == 29 and remaining[-1] == 0
        assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(remaining))
        for answer in admitted:
            assert answer.headers["x-ratelimit-limit-requests"] == "30"
            reset = answer.headers["x-ratelimit-reset-requests"]
            assert DURATION.match(reset), reset
            # Back to full: two seconds a request used.
            used = 30 - int(answer.headers["x-ratelimit-remaining-requests"])
            assert used * 2 - 2.1 <= seconds(reset) <= used * 2 + 0.1
            assert "x-ratelimit-limit-tokens" not in answer.headers  # no tokens limit
        wait = assert_refusal(answers[-1], "requests")
        assert 0 < wait <= 2.0
        assert answers[-1].headers["x-ratelimit-limit-requests"] == "30"

        time.sleep(wait + 0.05)
        recovered = client.get("/assistants")
        assert recovered.status_code == 200
        assert recovered.headers["x-ratelimit-remaining-requests"] == "0"


def test_the_sdk_sees_the_429_and_its_retries_wait_for_retry_after(server: Server) -> None:
    _, key = new_project(server, requests_per_minute=30)
    with raw(server, key) as client:
        until_refused(client)
    with make_client(server, key) as sdk:  # max_retries=0
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.beta.assistants.list()
        assert refused.value.status_code == 429
        assert refused.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
        wait = int(refused.value.response.headers["retry-after-ms"]) / 1000
    with make_client(server, key) as sdk:
        patient = sdk.with_options(max_retries=2)
        began = time.monotonic()
        page = patient.beta.assistants.with_raw_response.list()
        assert page.status_code == 200
        # The SDK waited as told (retry-after-ms), not its own backoff of ~0.5 s.
        assert time.monotonic() - began >= wait - 0.05
        assert page.headers["x-ratelimit-limit-requests"] == "30"


def test_a_projects_limits_bind_only_that_project(server: Server) -> None:
    _, limited = new_project(server, requests_per_minute=30)
    _, other = new_project(server, requests_per_minute=1000)
    _, free = new_project(server)
    with raw(server, limited) as a, raw(server, other) as b, raw(server, free) as c:
        until_refused(a)
        for _ in range(10):
            answer = b.get("/assistants")
            assert answer.status_code == 200
            assert answer.headers["x-ratelimit-limit-requests"] == "1000"
            assert c.get("/assistants").status_code == 200
        assert int(b.get("/assistants").headers["x-ratelimit-remaining-requests"]) >= 988
        assert a.get("/assistants").status_code == 429


def test_a_keys_own_limit_binds_that_key(server: Server) -> None:
    name, _ = new_project(server, requests_per_minute=1000)
    url = server.database_url
    _, strict = store.with_db(url, lambda db: projects.create_key(db, name, requests_per_minute=30))
    sibling = store.create_key(url, name)
    with raw(server, strict) as a, raw(server, sibling) as b:
        answers, _ = until_refused(a)
        # The tighter of the key's and the project's: the key's.
        assert answers[0].headers["x-ratelimit-limit-requests"] == "30"
        assert_refusal(answers[-1], "requests")
        assert "for key key_" in answers[-1].json()["error"]["message"]
        answer = b.get("/assistants")
        assert answer.status_code == 200
        # The sibling draws on the project's bucket, which the strict key's requests used too.
        assert answer.headers["x-ratelimit-limit-requests"] == "1000"
        remaining = int(answer.headers["x-ratelimit-remaining-requests"])
        assert 1000 - len(answers) - 1 <= remaining <= 1000 - len(answers) + 5


# -- tokens per minute ----------------------------------------------------------------------


def test_tokens_limit_refuses_runs_then_recovers(server: Server, llm: ScriptedBackend) -> None:
    # 600 a minute: 10 a second. One run reports 610 tokens, which empties the bucket.
    _, key = new_project(server, tokens_per_minute=600)
    model = llm.model(always=Text("Done.", usage=(500, 110)))
    with make_client(server, key) as sdk, raw(server, key) as client:
        assistant = sdk.beta.assistants.create(model=model)
        thread = sdk.beta.threads.create()
        first = client.get("/assistants")
        assert first.headers["x-ratelimit-limit-tokens"] == "600"
        assert first.headers["x-ratelimit-remaining-tokens"] == "600"
        assert first.headers["x-ratelimit-reset-tokens"] == "0s"
        assert "x-ratelimit-limit-requests" not in first.headers

        run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "completed" and run.usage and run.usage.total_tokens == 610
        after = client.get("/assistants")
        assert after.headers["x-ratelimit-remaining-tokens"] == "0"
        assert 0.9 <= seconds(after.headers["x-ratelimit-reset-tokens"]) <= 61.1

        refused = client.post(
            f"/threads/{thread.id}/runs",
            json={"assistant_id": assistant.id},
            headers={"OpenAI-Beta": "assistants=v2"},
        )
        wait = assert_refusal(refused, "tokens")
        assert 0 < wait <= 1.1  # 10 tokens short at most: a second
        also = client.post("/threads/runs", json={"assistant_id": assistant.id})
        assert_refusal(also, "tokens")
        # Refused, nothing was made; reads go on.
        assert [r.id for r in sdk.beta.threads.runs.list(thread.id)] == [run.id]
        assert client.get(f"/threads/{thread.id}").status_code == 200
        with pytest.raises(openai.RateLimitError):
            sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)

        time.sleep(wait + 0.05)
        # A stream carries the headers too.
        body = {"assistant_id": assistant.id, "stream": True}
        with client.stream("POST", f"/threads/{thread.id}/runs", json=body) as streamed:
            assert streamed.status_code == 200
            assert streamed.headers["x-ratelimit-limit-tokens"] == "600"
            assert int(streamed.headers["x-ratelimit-remaining-tokens"]) >= 1
            assert "event: thread.run.completed" in streamed.read().decode()


def test_a_keys_own_tokens_limit_counts_its_runs(server: Server, llm: ScriptedBackend) -> None:
    name, _ = new_project(server, tokens_per_minute=6000)  # 100 a second
    url = server.database_url
    _, strict = store.with_db(url, lambda db: projects.create_key(db, name, tokens_per_minute=600))
    sibling = store.create_key(url, name)
    model = llm.model(always=Text("Done.", usage=(600, 100)))
    with make_client(server, strict) as sdk, make_client(server, sibling) as other:
        assistant = sdk.beta.assistants.create(model=model)
        thread = sdk.beta.threads.create()
        run = sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        counted = time.monotonic()
        assert run.status == "completed"
        with pytest.raises(openai.RateLimitError) as refused:
            sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        assert "for key key_" in refused.value.message
        # The key's run is in the project's count too, but the project has room.
        page = other.beta.assistants.with_raw_response.list()
        refilled = (time.monotonic() - counted + 0.2) * 100
        remaining = int(page.headers["x-ratelimit-remaining-tokens"])
        assert 6000 - 700 <= remaining <= 6000 - 700 + refilled
        assert page.headers["x-ratelimit-limit-tokens"] == "6000"
        assert other.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        ).status == "completed"  # fmt: skip

    def key_of(db):
        async def read():
            async with db.read() as session:
                return list(await session.scalars(select(Run.api_key_id).where(
                    Run.thread_id == thread.id).order_by(Run.created_at)))  # fmt: skip

        return read()

    keys = store.with_db(url, key_of)
    assert len(keys) == 2 and keys[0] != keys[1] and all(k and k.startswith("key_") for k in keys)


def test_local_mode_has_no_limits_unless_set(spawn: ServerFactory) -> None:
    server = spawn()
    with httpx.Client(base_url=server.base_url, timeout=30, event_hooks=HOOKS) as anonymous:
        for _ in range(3):
            answer = anonymous.get("/assistants")
            assert answer.status_code == 200
            assert not set(RATE_HEADERS) & set(answer.headers)
        # Set on the default project (`threadline projects limits default --rpm 30`), they
        # apply within a second.
        limits = {"requests_per_minute": 30}
        store.with_db(server.database_url,
                      lambda db: projects.set_project_limits(db, "default", limits))  # fmt: skip
        deadline = time.monotonic() + 1.5
        while "x-ratelimit-limit-requests" not in (seen := anonymous.get("/assistants")).headers:
            assert time.monotonic() < deadline, "the limits did not apply within a second"
            time.sleep(0.05)
        assert seen.headers["x-ratelimit-limit-requests"] == "30"


# -- storage quotas -------------------------------------------------------------------------


def files_on_disk(server: Server) -> set[str]:
    folder = server.data_dir / "files"
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def file_rows(server: Server, project: str) -> int:
    async def count(db):
        project_id, _ = await projects.project_limits(db, project)
        async with db.read() as session:
            return await session.scalar(
                select(func.count()).select_from(File).where(File.project_id == project_id)
            )

    return store.with_db(server.database_url, count)


def test_file_quota_refuses_an_upload_that_would_exceed_it(server: Server) -> None:
    name, key = new_project(server, max_file_bytes=1000)
    with make_client(server, key) as sdk:
        kept = sdk.files.create(file=("a.txt", b"a" * 600), purpose="assistants")
        before = files_on_disk(server)
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.files.create(file=("b.txt", b"b" * 401), purpose="assistants")
        error = refused.value.body
        assert error["code"] == "quota_exceeded" and error["type"] == "invalid_request_error"
        assert error["param"] == "file"
        assert "1000 bytes" in error["message"] and "600 are used" in error["message"]
        assert "401" in error["message"]
        assert refused.value.response.headers["x-should-retry"] == "false"
        # Nothing kept: no row, no bytes.
        assert files_on_disk(server) == before
        assert [f.id for f in sdk.files.list()] == [kept.id]
        assert file_rows(server, name) == 1
        # What fits exactly is taken; deleting makes room.
        exact = sdk.files.create(file=("c.txt", b"c" * 400), purpose="assistants")
        with pytest.raises(openai.BadRequestError):
            sdk.files.create(file=("d.txt", b"d"), purpose="assistants")
        sdk.files.delete(exact.id)
        sdk.files.create(file=("d.txt", b"d" * 400), purpose="assistants")


def test_vector_store_quota_refuses_one_more(server: Server) -> None:
    _, key = new_project(server, max_vector_stores=2)
    with make_client(server, key) as sdk:
        first = sdk.vector_stores.create(name="one")
        sdk.vector_stores.create(name="two")
        for attempt in (
            lambda: sdk.vector_stores.create(name="three"),
            # Stores made through tool resources count too.
            lambda: sdk.beta.assistants.create(
                model="m",
                tools=[{"type": "file_search"}],
                tool_resources={"file_search": {"vector_stores": [{"file_ids": []}]}},
            ),
            lambda: sdk.beta.threads.create(
                tool_resources={"file_search": {"vector_stores": [{"file_ids": []}]}}
            ),
        ):
            with pytest.raises(openai.BadRequestError) as refused:
                attempt()
            error = refused.value.body
            assert error["code"] == "quota_exceeded"
            assert "at most 2 vector stores" in error["message"] and "has 2" in error["message"]
        assert len(sdk.vector_stores.list().data) == 2
        assert sdk.beta.assistants.list().data == []
        sdk.vector_stores.delete(first.id)
        sdk.vector_stores.create(name="three")
        assert len(sdk.vector_stores.list().data) == 2


# -- a vector store's description -----------------------------------------------------------


def test_vector_store_description_is_accepted_and_kept(client: OpenAI, server: Server) -> None:
    made = client.vector_stores.create(name="faq", description="Answers to common questions.")
    assert made.name == "faq"
    # Not returned: the spec's and the SDK's VectorStore have no such field.
    assert "description" not in made.model_dump()
    client.vector_stores.update(made.id, name="faq2", extra_body={"description": "Changed."})

    def description(db):
        async def read():
            async with db.read() as session:
                return await session.scalar(
                    select(VectorStore.description).where(VectorStore.id == made.id)
                )

        return read()

    assert store.with_db(server.database_url, description) == "Changed."
    with pytest.raises(openai.BadRequestError) as refused:
        client.vector_stores.create(name="x", description="d" * 513)
    assert refused.value.body["param"] == "description"
    assert "string too long" in refused.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.vector_stores.create(name="x", extra_body={"description": 5})


# -- distributed: counters shared through Redis ----------------------------------------------


@pytest.fixture(scope="module")
def cluster(
    llm: ScriptedBackend, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    env = {"THREADLINE_LLM_BASE_URL": llm.base_url, "THREADLINE_RUN_LEASE_SECONDS": "2",
           **ENGINE_ENV}  # fmt: skip
    with fresh_database() as url:
        running = Cluster(url, redis_url, Path(tmp_path_factory.mktemp("limits-cluster")), env)
        try:
            yield running.start(apis=2, workers=1)
        finally:
            running.stop()


def test_two_api_processes_share_the_counters(cluster: Cluster, llm: ScriptedBackend) -> None:
    url = cluster.database_url
    name = f"limits-{uuid.uuid4().hex[:12]}"
    key = store.create_key(url, name)
    limits = {"requests_per_minute": 30, "tokens_per_minute": 600}
    store.with_db(url, lambda db: projects.set_project_limits(db, name, limits))
    first, second = cluster.apis
    with raw(first, key) as a, raw(second, key) as b:
        answers = []
        for index in range(200):
            answers.append((a if index % 2 else b).get("/assistants"))
            if answers[-1].status_code == 429:
                break
        # One bucket of 30 for both, not 30 each.
        assert 30 <= len(answers) - 1 <= 36
        remaining = [int(x.headers["x-ratelimit-remaining-requests"]) for x in answers[:-1]]
        assert remaining[:3] == [29, 28, 27]
        assert_refusal(answers[-1], "requests")
        assert (b if len(answers) % 2 else a).get("/assistants").status_code == 429

        # Tokens a worker counts are seen by both API processes. (A limit changed applies at
        # once: the requests limit is lifted.)
        lift = {"requests_per_minute": None}
        store.with_db(url, lambda db: projects.set_project_limits(db, name, lift))
        assert "x-ratelimit-limit-requests" not in a.get("/assistants").headers
        model = llm.model(always=Text("Done.", usage=(500, 110)))
        assistant = a.post("/assistants", json={"model": model}).json()
        run = b.post("/threads/runs", json={"assistant_id": assistant["id"]}).json()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.05)
            status = a.get(f"/threads/{run['thread_id']}/runs/{run['id']}").json()["status"]
            if status == "completed":
                break
        assert status == "completed"
        for client in (a, b):
            refused = client.post("/threads/runs", json={"assistant_id": assistant["id"]})
            assert refused.status_code == 429 and refused.json()["error"]["type"] == "tokens"
