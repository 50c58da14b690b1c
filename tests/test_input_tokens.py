"""`POST /v1/responses/input_tokens`: the input tokens the same request would use if sent to
`POST /v1/responses`, counted over the prompt the engine builds, by the model's own tokenizer.

With the embedded model the count is the usage the model reports for the same response (it
counts with its tokenizer); with llama.cpp's server, the usage that server reports; with a
server that has no tokenize endpoint (the scripted backend), the engine's estimate of the
very prompt that server is sent, said in the log. A count stores nothing, and a request that
`POST /responses` refuses is refused the same way.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from sqlalchemy import func, select

from tests.conftest import ENGINE_ENV, ServerFactory, make_client
from tests.support.cluster import Cluster
from tests.support.model_servers import ModelServer
from tests.support.postgres import fresh_database
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server
from tests.support.store import create_key, with_db
from tests.support.wire import HOOKS
from tests.test_embedded_model import embedded_server
from threadline.backends.base import ChatRequest
from threadline.backends.openai_http import OpenAIHTTPBackend
from threadline.conversations.models import ConversationItem
from threadline.db.engine import Database
from threadline.engine.tokens import estimate_messages, estimate_tools
from threadline.projects.models import ApiKey
from threadline.projects.service import hash_key
from threadline.responses.models import Response
from threadline.runs.models import Run
from threadline.threads.models import Message, Thread

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": False,
}
CALL = ToolCalls([("get_weather", '{"city": "Paris"}')])
# Short, greedy replies: the tests want the usage of the prompt, not an answer.
BRIEF: dict[str, Any] = {"max_output_tokens": 16, "temperature": 0}


def count(client: OpenAI, **request: Any) -> int:
    counted = client.responses.input_tokens.count(**request)
    assert counted.object == "response.input_tokens"
    return counted.input_tokens


def stored(url: str, key: str) -> dict[str, int]:
    """How many rows of each kind the key's project has, hidden threads included."""

    async def work(db: Database) -> dict[str, int]:
        async with db.read() as session:
            project = await session.scalar(
                select(ApiKey.project_id).where(ApiKey.key_hash == hash_key(key))
            )
            threads = select(Thread.id).where(Thread.project_id == project)
            counts = {}
            for name, model, where in (
                ("threads", Thread, Thread.project_id == project),
                ("runs", Run, Run.thread_id.in_(threads)),
                ("messages", Message, Message.thread_id.in_(threads)),
                ("items", ConversationItem, ConversationItem.thread_id.in_(threads)),
                ("responses", Response, Response.project_id == project),
            ):
                counts[name] = await session.scalar(
                    select(func.count()).select_from(model).where(where)
                )
            return counts

    return with_db(url, work)


# -- a server without a tokenize endpoint: the estimate -------------------------------------


@pytest.fixture
def key(server: Server) -> str:
    """A key of a new project, whose rows `stored` counts."""
    return create_key(server.database_url, f"tokens-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def sdk(server: Server, key: str) -> Iterator[OpenAI]:
    with make_client(server, key) as client:
        yield client


@pytest.fixture
def raw(server: Server, key: str) -> Iterator[httpx.Client]:
    """Raw HTTP with the same key, for the bodies the SDK would not send."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(
        base_url=server.base_url, headers=headers, timeout=30, event_hooks=HOOKS
    ) as client:
        yield client


def estimate_of(llm: ScriptedBackend, model: str, index: int = -1) -> int:
    """The engine's estimate of the prompt the backend was sent for `model`."""
    sent = llm.received(model)[index]
    return estimate_messages(sent["messages"]) + estimate_tools(sent.get("tools"))


def test_without_a_tokenizer_the_count_is_the_estimate_of_the_prompt_sent(
    sdk: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("Hello."), CALL, Text("Sunny."), Text("Bye."))
    plain = {"model": model, "input": "Hi", "instructions": "Be brief."}
    counted = count(sdk, **plain)
    assert llm.received(model) == []  # counting asks the model nothing
    first = sdk.responses.create(**plain)
    assert counted == estimate_of(llm, model) == 12  # (4 + 3) + (4 + 1)

    # Tools as the model sees them, and the previous response's context.
    follow = {"model": model, "previous_response_id": first.id, "input": "Weather?"}
    counted = count(sdk, **follow, tools=[WEATHER])
    called = sdk.responses.create(**follow, tools=[WEATHER])
    assert counted == estimate_of(llm, model)
    assert counted > count(sdk, **follow)  # the tools are in it

    # A function's output answering the previous response's call.
    output = {"type": "function_call_output", "call_id": called.output[0].call_id, "output": "22C"}
    answer = {"model": model, "previous_response_id": called.id, "input": [output]}
    counted = count(sdk, **answer, tools=[WEATHER])
    sdk.responses.create(**answer, tools=[WEATHER])
    assert counted == estimate_of(llm, model)

    # A conversation's items.
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "Earlier words"}])
    counted = count(sdk, model=model, conversation=conversation.id, input="Later words")
    sdk.responses.create(model=model, conversation=conversation.id, input="Later words")
    assert counted == estimate_of(llm, model)
    assert [m["content"] for m in llm.received(model)[-1]["messages"]] == [
        "Earlier words",
        "Later words",
    ]


def test_a_count_stores_nothing(
    sdk: OpenAI, llm: ScriptedBackend, server: Server, key: str
) -> None:
    model = llm.model(Text("First."), Text("Second."))
    conversation = sdk.conversations.create(items=[{"role": "user", "content": "Hello"}])
    first = sdk.responses.create(model=model, input="Start")
    items = [item.id for item in sdk.conversations.items.list(conversation.id)]
    data = sdk.files.create(file=("data.csv", b"a,b\n1,2\n"), purpose="user_data")
    before = stored(server.database_url, key)
    containers = sdk.containers.list().data
    kept_bytes = sorted((server.data_dir / "files").rglob("*"))
    assert kept_bytes  # the file's own bytes

    count(sdk, model=model, conversation=conversation.id, input="More", instructions="Hm.")
    count(sdk, model=model, previous_response_id=first.id, input="Continued")
    count(sdk, model=model, input=[{"role": "user", "content": "A new thread's words"}])
    # The container a response would make for its code, and the copy of its file.
    code = {"type": "code_interpreter", "container": {"type": "auto", "file_ids": [data.id]}}
    assert count(sdk, model=model, input="Sum the columns.", tools=[code]) > count(
        sdk, model=model, input="Sum the columns."
    )
    # One that fails after its input was added keeps nothing either.
    with pytest.raises(openai.BadRequestError):
        count(sdk, model=model, input="x", tools=[WEATHER], tool_choice={"type": "function",
              "name": "no_such_function"})  # fmt: skip

    assert stored(server.database_url, key) == before
    assert [item.id for item in sdk.conversations.items.list(conversation.id)] == items
    assert sdk.containers.list().data == containers
    assert sorted((server.data_dir / "files").rglob("*")) == kept_bytes
    # The previous response's thread goes on as if nothing had been counted.
    sdk.responses.create(model=model, previous_response_id=first.id, input="Next")
    assert [m["content"] for m in llm.received(model)[-1]["messages"]] == [
        "Start",
        "First.",
        "Next",
    ]


def _error(response: httpx.Response) -> tuple[int, dict[str, Any]]:
    return response.status_code, response.json()["error"]


def test_what_a_response_refuses_a_count_refuses_the_same_way(
    raw: httpx.Client, sdk: OpenAI, llm: ScriptedBackend
) -> None:
    model = llm.model(CALL, always=Text("Fine."))
    called = sdk.responses.create(model=model, input="Weather?", tools=[WEATHER])
    conversation = sdk.conversations.create()
    cases = [
        ({"input": "Hi"}, 400, "model"),
        ({"model": model, "conversation": "conv_nope", "input": "Hi"}, 404, None),
        ({"model": model, "previous_response_id": "resp_nope", "input": "Hi"}, 400,
         "previous_response_id"),
        ({"model": model, "conversation": conversation.id, "previous_response_id": called.id},
         400, "previous_response_id"),
        # The previous response's call is not answered.
        ({"model": model, "previous_response_id": called.id, "input": "And?"}, 400, "input"),
        ({"model": model, "input": [{"type": "item_reference", "id": "msg_nope"}]}, 400,
         "input[0].id"),
        ({"model": model, "input": [{"role": "user", "content": [{"type": "input_image",
          "file_id": "file-nope"}]}]}, 400, "input[0].content[0].file_id"),
        ({"model": model, "input": "Hi", "tool_choice": {"type": "function", "name": "f"}},
         400, "tool_choice.name"),
        ({"model": model, "input": [{"type": "nonsense"}]}, 400, "input[0].type"),
    ]  # fmt: skip
    before = len(llm.received(model))
    for body, status, param in cases:
        counted = _error(raw.post("/responses/input_tokens", json=body))
        created = _error(raw.post("/responses", json=body))
        assert counted == created, body
        assert counted[0] == status and counted[1]["param"] == param, (body, counted)
    assert len(llm.received(model)) == before


def test_the_log_says_a_count_is_an_estimate(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn(extra_args=["--log-level", "info"])
    model = llm.model()
    with make_client(server, "local") as client:
        first = count(client, model=model, input="Hi")
        assert count(client, model=model, input="Hi") == first
    log = server.log()
    assert log.count(f"model {model}: the backend has no tokenizer to count the prompt with; "
                     f"estimated {first} prompt tokens") == 2  # fmt: skip
    # Found to have no tokenize endpoint once, and not asked again.
    assert log.count("has no tokenize endpoint") == 1


def test_what_no_backend_can_take_is_refused(
    spawn: ServerFactory, llm: ScriptedBackend, tmp_path: Path
) -> None:
    """A model no backend serves, and an input no context window holds: where a response
    fails, its count is refused, in the same words."""
    models = tmp_path / "models.toml"
    models.write_text(
        f'[backends.small]\nbase_url = "{llm.base_url}"\n\n'
        '[[models]]\nname = "small-*"\nbackend = "small"\ncontext_window = 1100\n'
    )
    server = spawn(env={"THREADLINE_MODELS": str(models)}, with_llm=False)
    small = "small-model"
    with make_client(server, "local") as client:
        assert count(client, model=small, input="Hi") == 5
        for request, param in (
            ({"model": "elsewhere", "input": "Hi"}, "model"),
            ({"model": small, "input": "words " * 200}, "input"),
        ):
            with pytest.raises(openai.BadRequestError) as refused:
                count(client, **request)
            failed = client.responses.create(**request)
            assert failed.status == "failed"
            assert refused.value.body["message"] == failed.error.message
            assert refused.value.body["param"] == param


def test_an_api_process_counts_too(llm: ScriptedBackend, redis_url: str, tmp_path: Path) -> None:
    """A process of the `api` role executes no run, yet builds and counts prompts."""
    with fresh_database() as url:
        env = {"THREADLINE_LLM_BASE_URL": llm.base_url, **ENGINE_ENV}
        cluster = Cluster(url, redis_url, tmp_path, env).start(apis=1, workers=0)
        try:
            with make_client(cluster.apis[0], "local") as client:
                conversation = client.conversations.create(
                    items=[{"role": "user", "content": "Earlier words"}]
                )
                counted = count(
                    client,
                    model=llm.model(),
                    conversation=conversation.id,
                    input="Later words",
                    instructions="Be brief.",
                )
        finally:
            cluster.stop()
    assert counted == estimate_messages(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Earlier words"},
            {"role": "user", "content": "Later words"},
        ]
    )


# -- the tokenize endpoints of OpenAI-compatible servers -------------------------------------


def counts_with(server: Any, times: int = 2) -> tuple[list[int | None], list[str]]:
    """What `times` counts of one prompt give on an HTTP backend whose server answers as
    `server(path, body)` does (status, JSON), and the paths asked, in order."""
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        status, body = server(request.url.path, json.loads(request.content))
        return httpx.Response(status, json=body)

    request = ChatRequest(
        model="served", messages=[{"role": "user", "content": "Hi"}], tools=[CHAT_WEATHER]
    )

    async def counted() -> list[int | None]:
        backend = OpenAIHTTPBackend("http://model-server:8000/v1")
        await backend.aclose()
        backend._client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        try:
            return [await backend.count_prompt_tokens(request) for _ in range(times)]
        finally:
            await backend.aclose()

    return asyncio.run(counted()), asked


CHAT_WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
NOT_FOUND = (404, {"error": "Not Found"})


def test_llama_cpp_renders_then_tokenizes() -> None:
    def llama_cpp(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/apply-template":
            assert body["messages"] == [{"role": "user", "content": "Hi"}]
            assert body["tools"] == [CHAT_WEATHER]
            return 200, {"prompt": "<|im_start|>user\nHi<|im_end|>"}
        assert path == "/tokenize" and body["content"].startswith("<|im_start|>")
        assert body["add_special"] is True and body["parse_special"] is True
        return 200, {"tokens": [1, 2, 3, 4, 5]}

    counted, asked = counts_with(llama_cpp)
    assert counted == [5, 5]
    assert asked == ["/apply-template", "/tokenize"] * 2


def test_vllm_tokenizes_the_messages() -> None:
    def vllm(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path != "/tokenize":
            return NOT_FOUND
        assert body == {
            "model": "served",
            "messages": [{"role": "user", "content": "Hi"}],
            "add_generation_prompt": True,
            "tools": [CHAT_WEATHER],
        }
        return 200, {"count": 7, "max_model_len": 4096, "tokens": [0] * 7}

    counted, asked = counts_with(vllm)
    assert counted == [7, 7]
    # Found once; then only vLLM's endpoint is asked.
    assert asked == ["/apply-template", "/tokenize", "/tokenize"]


def test_a_server_without_a_tokenizer_is_asked_once() -> None:
    counted, asked = counts_with(lambda path, body: NOT_FOUND, times=3)
    assert counted == [None, None, None]
    assert asked == ["/apply-template", "/tokenize"]
    # llama-cpp-python's /tokenize is elsewhere (and wants no messages): no count either.
    counted, _ = counts_with(lambda path, body: (200, {"detail": "ok"}))
    assert counted == [None, None]


def test_a_prompt_the_server_refuses_is_not_counted_this_time() -> None:
    refusals = iter([(400, {"error": {"message": "template error"}})])

    def llama_cpp(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        if path == "/apply-template":
            return next(refusals, (200, {"prompt": "Hi"}))
        return 200, {"tokens": [1]}

    counted, asked = counts_with(llama_cpp)
    assert counted == [None, 1]  # the endpoint is there: it is asked again
    assert asked == ["/apply-template", "/apply-template", "/tokenize"]


# -- the embedded model: its own tokenizer ---------------------------------------------------


@pytest.fixture(scope="module")
def embedded(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("tokens-embedded")
    server = embedded_server(f"sqlite+aiosqlite:///{data_dir / 't.db'}", data_dir, model_file)
    yield server
    server.stop()


@pytest.fixture
def local(embedded: Server) -> Iterator[OpenAI]:
    with make_client(embedded, "local") as client:
        yield client


def counted_and_used(client: OpenAI, **request: Any) -> tuple[int, int, Any]:
    """The count of `request`, and the input tokens the model used answering it."""
    counted = count(client, **request)
    response = client.responses.create(**request, **BRIEF)
    assert response.status in ("completed", "incomplete"), response.error
    return counted, response.usage.input_tokens, response


def test_the_embedded_model_counts_what_it_uses(local: OpenAI) -> None:
    counted, used, first = counted_and_used(local, model="gpt-4o", input="Name a colour.")
    # Qwen's chat template gives a prompt without instructions its own system message: the
    # estimate of these few characters would be 9.
    assert counted == used > 20
    counted, used, _ = counted_and_used(
        local, model="gpt-4o", input="Name a colour.", instructions="Answer in one word."
    )
    assert counted == used
    counted, used, _ = counted_and_used(
        local, model="gpt-4o", input="What's the weather in Paris?", tools=[WEATHER]
    )
    assert counted == used
    # The tools are in the prompt as its chat template shows them, unless none may be called.
    plain = count(local, model="gpt-4o", input="What's the weather in Paris?")
    assert counted > plain + 20
    assert plain == count(
        local, model="gpt-4o", input="What's the weather in Paris?", tools=[WEATHER],
        tool_choice="none",
    )  # fmt: skip
    # The previous response's context, and a conversation's.
    counted, used, _ = counted_and_used(
        local, model="gpt-4o", previous_response_id=first.id, input="Another one."
    )
    assert counted == used
    conversation = local.conversations.create(
        items=[{"role": "user", "content": "I like green."}, {"role": "assistant",
               "content": [{"type": "output_text", "text": "Green is nice."}]}]
    )  # fmt: skip
    counted, used, _ = counted_and_used(
        local, model="gpt-4o", conversation=conversation.id, input="And blue?"
    )
    assert counted == used


# -- llama.cpp's server: its /apply-template and /tokenize -----------------------------------


@pytest.fixture(scope="module")
def on_llama_cpp(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    model_server = ModelServer("llama.cpp", model_file).start()
    data_dir = tmp_path_factory.mktemp("tokens-llama-cpp")
    server = Server(
        database_url=f"sqlite+aiosqlite:///{data_dir / 't.db'}",
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": model_server.base_url},
        extra_args=["--log-level", "info"],
    )
    try:
        yield server.start()
    finally:
        server.stop()
        model_server.stop()


def test_llama_cpp_counts_what_it_reports(on_llama_cpp: Server) -> None:
    with make_client(on_llama_cpp, "local") as client:
        counted, used, first = counted_and_used(
            client, model="local", input="Name a colour.", instructions="Answer in one word."
        )
        assert counted == used > 5
        counted, used, _ = counted_and_used(
            client,
            model="local",
            previous_response_id=first.id,
            input="What's the weather in Paris?",
            tools=[WEATHER],
        )
        assert counted == used
    assert "estimated" not in on_llama_cpp.log()
