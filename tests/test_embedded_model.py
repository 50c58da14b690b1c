"""The embedded default model, for real: answers, tool calls, JSON, streaming, queueing.

The model (491 MB) is fetched once per machine into the same place `make serve` keeps it,
or `TEST_MODELS_DIR`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jsonschema
import pytest
from openai import OpenAI

from tests.conftest import make_client
from tests.support.server import Server
from tests.support.sse import frames
from tests.support.wire import HOOKS
from threadline.backends.llama_runtime import LlamaRuntime
from threadline.backends.repetition import RepetitionGuard

WEATHER_PARAMETERS = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": WEATHER_PARAMETERS,
    },
}


def embedded_server(
    database_url: str, data_dir: Path, model_file: Path, env: dict[str, str] | None = None
) -> Server:
    return Server(
        database_url=database_url,
        data_dir=data_dir,
        env={
            "THREADLINE_EMBEDDED": "true",
            "THREADLINE_MODEL_PATH": str(model_file),
            "THREADLINE_POLL_AFTER_MS": "20",
            **(env or {}),
        },
    ).start()


@pytest.fixture(scope="module")
def model_server(model_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server, on SQLite: what these tests show is the model's, whatever the database
    (every database runs the same flows with the scripted backend elsewhere)."""
    data_dir = tmp_path_factory.mktemp("embedded")
    server = embedded_server(f"sqlite+aiosqlite:///{data_dir / 't.db'}", data_dir, model_file)
    yield server
    server.stop()


@pytest.fixture
def client(model_server: Server) -> Iterator[OpenAI]:
    with make_client(model_server, "local") as sdk:
        yield sdk


def ask(client: OpenAI, question: str, **options):
    assistant = client.beta.assistants.create(
        model=options.pop("model", "gpt-4o"),
        instructions="You are a helpful assistant. Answer briefly.",
        temperature=0.2,
        tools=options.pop("tools", []),
    )
    return client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": question}]},
        **options,
    )


def answer(client: OpenAI, thread_id: str) -> str:
    return client.beta.threads.messages.list(thread_id).data[0].content[0].text.value


def answer_after(client: OpenAI, run, call_id: str, output: str) -> str:
    """The answer to `run` once `output` is submitted for its call `call_id`."""
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id,
        thread_id=run.thread_id,
        tool_outputs=[{"tool_call_id": call_id, "output": output}],
    )
    assert done.status == "completed", done.last_error
    return answer(client, run.thread_id)


def test_a_factual_question(client: OpenAI) -> None:
    run = ask(client, "What is the capital of France?", model="gpt-4-1106-preview")
    assert run.status == "completed", run.last_error
    assert "Paris" in answer(client, run.thread_id)
    assert run.usage.prompt_tokens > 10 and 0 < run.usage.completion_tokens < 200


def test_a_required_tool_call_then_the_answer(client: OpenAI) -> None:
    run = ask(client, "What's the weather in Paris?", tools=[WEATHER], tool_choice="required")
    assert run.status == "requires_action", run.last_error
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    assert call.function.name == "get_weather"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, WEATHER_PARAMETERS)
    text = answer_after(client, run, call.id, "22 degrees celsius and sunny")
    assert "22" in text or "sunny" in text.lower()
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc")
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]


CITY_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def test_the_weather_question_calls_the_function_unasked(client: OpenAI) -> None:
    # Every tutorial's first example: tool_choice auto, nothing says to use the function.
    run = ask(client, "What's the weather in Paris?", tools=[CITY_WEATHER], temperature=0)
    assert run.status == "requires_action", answer(client, run.thread_id)
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_a_message_no_function_fits_is_answered(client: OpenAI) -> None:
    run = ask(client, "Write a haiku about autumn leaves.", tools=[CITY_WEATHER], temperature=0)
    assert run.status == "completed", run.required_action
    assert len(answer(client, run.thread_id).split()) >= 5


def offered(name: str, description: str, **properties: str) -> dict:
    parameters = {
        "type": "object",
        "required": list(properties),
        "properties": {key: {"type": kind} for key, kind in properties.items()},
    }
    function = {"name": name, "description": description, "parameters": parameters}
    return {"type": "function", "function": function}


# The three functions a newcomer offers first (issue 26).
NEWCOMERS = [
    offered("get_weather", "Get the current weather in a city", city="string"),
    offered("get_stock_price", "Get the latest price of a stock", symbol="string"),
    offered("send_email", "Send an email", to="string", subject="string", body="string"),
]


def test_a_conversion_is_answered_from_its_result(client: OpenAI) -> None:
    """Told the call in words ("convert_currency was called with ..."), the model explained
    how to call the function instead of giving the converted amount."""
    converter = offered("convert_currency", "Convert money between currencies",
                        amount="number", from_currency="string", to_currency="string")  # fmt: skip
    run = ask(client, "Convert 100 USD to EUR.", tools=[converter], temperature=0)
    assert run.status == "requires_action", answer(client, run.thread_id)
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    text = answer_after(client, run, call.id, '{"amount": 92.4, "currency": "EUR"}')
    assert "92.4" in text and "function" not in text.lower(), text


def test_arithmetic_beside_unrelated_functions_is_answered(client: OpenAI) -> None:
    """The model alone begins a weather call here; the request is far from every function,
    and the scored decision answers, from a prompt without them."""
    run = ask(client, "What is 12 times 7?", tools=NEWCOMERS, temperature=0)
    assert run.status == "completed", run.required_action
    text = answer(client, run.thread_id)
    assert "function" not in text.lower() and "get_" not in text, text


def test_the_decision_is_the_same_at_any_temperature(client: OpenAI) -> None:
    for temperature in (0.0, 1.0, 1.5):
        asked = ask(client, "What is 12 times 7?", tools=NEWCOMERS, temperature=temperature)
        assert asked.status == "completed", (temperature, asked.required_action)
        weather = ask(client, "What's the weather in Paris?", tools=NEWCOMERS,
                      temperature=temperature)  # fmt: skip
        assert weather.status == "requires_action", (temperature, weather.last_error)
        names = [c.function.name for c in weather.required_action.submit_tool_outputs.tool_calls]
        assert names == ["get_weather"], (temperature, names)


def test_the_weather_among_three_functions_is_a_weather_call(client: OpenAI) -> None:
    run = ask(client, "What is the weather like in Rome today?", tools=NEWCOMERS, temperature=0)
    assert run.status == "requires_action", answer(client, run.thread_id)
    # Alone, the model went on to Rome's weather, then London's, Paris's and Berlin's.
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Rome"}


def test_calls_name_only_the_functions_the_request_is_about(client: OpenAI) -> None:
    """Offered a timer, a calendar and email, the model alone went on to write an email too;
    calls may name only the functions about as near the request as the nearest."""
    tools = [
        offered("set_timer", "Start a countdown timer", minutes="integer"),
        offered("create_event", "Add an event to the user's calendar", title="string",
                date="string"),
        NEWCOMERS[2],
    ]  # fmt: skip
    request = "Set a 5 minute timer, and add 'Call mom' to my calendar on 2025-05-11."
    run = ask(client, request, tools=tools, temperature=0)
    assert run.status == "requires_action", answer(client, run.thread_id)
    names = [call.function.name for call in run.required_action.submit_tool_outputs.tool_calls]
    assert "set_timer" in names and set(names) <= {"set_timer", "create_event"}, names


def test_a_named_function_is_called(client: OpenAI) -> None:
    clock = {"type": "function", "function": {"name": "get_time", "parameters": {
        "type": "object", "properties": {"timezone": {"type": "string"}},
        "required": ["timezone"]}}}  # fmt: skip
    run = ask(
        client,
        "What time is it in Tokyo?",
        tools=[WEATHER, clock],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert run.status == "requires_action", run.last_error
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_time"
    assert isinstance(json.loads(call.function.arguments)["timezone"], str)
    client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)


def test_json_schema_output(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    run = ask(
        client,
        "Describe a person named Ann who is 30 years old.",
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    assert run.status == "completed", run.last_error
    value = json.loads(answer(client, run.thread_id))
    jsonschema.validate(value, schema)


def test_text_streams_before_the_run_completes(client: OpenAI, model_server: Server) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", temperature=0.2)
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Name three colours of the rainbow."}]
    )
    seen: list[tuple[str, float]] = []
    with (
        httpx.Client(base_url=model_server.base_url, timeout=120, event_hooks=HOOKS) as raw,
        raw.stream(
            "POST",
            f"/threads/{thread.id}/runs",
            json={"assistant_id": assistant.id, "stream": True},
        ) as response,
    ):
        for name, _ in frames(response):
            seen.append((name, time.monotonic()))
    names = [name for name, _ in seen]
    assert names[-2:] == ["thread.run.completed", "done"]
    deltas = [at for name, at in seen if name == "thread.message.delta"]
    assert len(deltas) >= 3
    completed = dict(seen)["thread.run.completed"]
    assert deltas[0] < completed - 0.05  # the first words came well before the end


def test_cancel_stops_the_generation(client: OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(
        messages=[{"role": "user", "content": "Write a long essay about the history of Rome."}]
    )
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    deadline = time.monotonic() + 60
    while not client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    started = time.monotonic()
    while (
        cancelled := client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    ).status != "cancelled":
        assert time.monotonic() - started < 5
        time.sleep(0.05)
    # The tokens generated before the cancel count.
    assert cancelled.usage.completion_tokens > 0
    # The model is free for the next run at once.
    quick = ask(client, "Say hello.")
    assert quick.status == "completed"


def test_twenty_runs_at_once_take_turns(model_file: Path, tmp_path: Path) -> None:
    """Once, on SQLite: the queueing is the model backend's own, whatever the database."""
    server = embedded_server(f"sqlite+aiosqlite:///{tmp_path / 't.db'}", tmp_path, model_file)
    try:
        with make_client(server, "local") as client:
            assistant = client.beta.assistants.create(model="gpt-4o", temperature=0.0)

            def one(index: int):
                return client.beta.threads.create_and_run_poll(
                    assistant_id=assistant.id,
                    thread={"messages": [{"role": "user", "content": f"Repeat: {index}"}]},
                    max_completion_tokens=256,
                    poll_interval_ms=200,
                )

            with ThreadPoolExecutor(max_workers=20) as pool:
                runs = list(pool.map(one, range(20)))
            assert {run.status for run in runs} == {"completed"}
            assert all(answer(client, run.thread_id) for run in runs)
    finally:
        server.stop()


def test_file_search_answers_from_the_file(client: OpenAI) -> None:
    facts = client.files.create(
        file=(
            "handbook.md",
            b"# Office handbook\n\nThe office wifi password is BLUE-HERON-42. "
            b"The kitchen closes at 6 pm. Parking is on level two.",
        ),
        purpose="assistants",
    )
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Answer using the files.",
        temperature=0.2,
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_stores": [{"file_ids": [facts.id]}]}},
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "What is the office wifi password?"}]},
        tool_choice={"type": "file_search"},
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc")
    search_step = steps.data[0]
    call = search_step.step_details.tool_calls[0]
    assert call.type == "file_search"
    assert [r.file_id for r in call.file_search.results] == [facts.id]
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    text = message.content[0].text
    assert "BLUE-HERON-42" in text.value
    # The answer is the model's own: a citation it wrote is annotated, none is added.
    markers = re.findall(r"【\d+(?::\d+)?†[^】]*】", text.value)
    assert [annotation.text for annotation in text.annotations] == markers
    for annotation in text.annotations:
        assert text.value[annotation.start_index : annotation.end_index] == annotation.text
        assert annotation.file_citation.file_id == facts.id


def test_code_interpreter_runs_the_models_code(client: OpenAI) -> None:
    assistant = client.beta.assistants.create(
        model="gpt-4o",
        instructions="Use Python to compute answers.",
        # Greedy: sampled, the answer after the output now and then rambled to the reply's
        # bound (1 run in CI of many), which is the model's, not the tool's.
        temperature=0.0,
        tools=[{"type": "code_interpreter"}],
    )
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "What is 1234 * 5678? Compute it."}]},
        tool_choice={"type": "code_interpreter"},
    )
    assert run.status == "completed", run.last_error
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc")
    call = steps.data[0].step_details.tool_calls[0]
    assert call.type == "code_interpreter" and call.code_interpreter.input.strip()
    logs = "".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")
    assert "7006652" in logs, (call.code_interpreter.input, logs)


def test_a_response_with_file_search_answers_from_the_file(client: OpenAI) -> None:
    """The same tools in a response: the store named by the tool, results included."""
    facts = client.files.create(
        file=("handbook.md", b"# Office handbook\n\nThe office wifi password is BLUE-HERON-42."),
        purpose="assistants",
    )
    store = client.vector_stores.create(name="handbook")
    client.vector_stores.files.create_and_poll(vector_store_id=store.id, file_id=facts.id)
    response = client.responses.create(
        model="gpt-4o",
        instructions="Answer using the files.",
        temperature=0.2,
        input="What is the office wifi password?",
        tools=[{"type": "file_search", "vector_store_ids": [store.id]}],
        tool_choice={"type": "file_search"},
        include=["file_search_call.results"],
    )
    assert response.status == "completed", response.error
    search = response.output[0]
    assert search.type == "file_search_call" and search.queries
    assert [result.file_id for result in search.results] == [facts.id]
    assert "BLUE-HERON-42" in response.output_text


def test_a_response_with_code_interpreter_runs_the_models_code(client: OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4o",
        instructions="Use Python to compute answers.",
        temperature=0.0,
        input="What is 1234 * 5678? Compute it.",
        tools=[{"type": "code_interpreter", "container": {"type": "auto"}}],
        tool_choice={"type": "code_interpreter"},
        include=["code_interpreter_call.outputs"],
    )
    assert response.status == "completed", response.error
    call = response.output[0]
    assert call.type == "code_interpreter_call" and call.code.strip()
    logs = "".join(o.logs for o in call.outputs if o.type == "logs")
    assert "7006652" in logs, (call.code, logs)


def test_a_reply_stuck_in_a_loop_ends_incomplete(client: OpenAI, model_server: Server) -> None:
    run = ask(
        client,
        "Write the word hello 500 times, separated by spaces, and nothing else.",
        temperature=0.0,
    )
    # Stopped at the loop, long before the reply's bound of 1024 tokens.
    assert run.status == "incomplete", run.last_error
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert 0 < run.usage.completion_tokens < 400
    message = client.beta.threads.messages.list(run.thread_id).data[0]
    assert message.status == "incomplete"
    assert message.incomplete_details.reason == "max_tokens"
    assert message.content[0].text.value.lower().count("hello") > 20
    assert "repeating the same" in model_server.log()


def test_the_reply_bound_ends_a_long_answer_incomplete(model_file: Path, tmp_path: Path) -> None:
    server = embedded_server(
        f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
        tmp_path,
        model_file,
        {"THREADLINE_EMBEDDED_MAX_TURN_TOKENS": "12"},
    )
    try:
        with make_client(server, "local") as client:
            run = ask(client, "Write a long essay about the history of Rome.")
            assert run.status == "incomplete", run.last_error
            assert run.incomplete_details.reason == "max_completion_tokens"
            assert run.max_completion_tokens is None
            assert 0 < run.usage.completion_tokens <= 12
            message = client.beta.threads.messages.list(run.thread_id).data[0]
            assert message.status == "incomplete"
            assert message.incomplete_details.reason == "max_tokens"
            assert message.content[0].text.value.strip()
            # A run's own budget is the bound when it sets one.
            run = ask(client, "Say hello.", max_completion_tokens=256)
            assert run.status == "completed", run.last_error
        assert "THREADLINE_EMBEDDED_MAX_TURN_TOKENS" in server.log()
    finally:
        server.stop()


def test_the_models_own_lists_and_tables_are_not_loops(model_file: Path) -> None:
    """The repetition guard on the real tokenizer's tokens."""
    vocabulary = LlamaRuntime(model_file, context_window=512, threads=1)
    numbers = [0, 1]
    while len(numbers) < 100:
        numbers.append(numbers[-1] + numbers[-2])
    texts = [
        "The first 20 Fibonacci numbers are: " + ", ".join(map(str, numbers[:20])) + ".",
        "\n".join(map(str, numbers)),
        "```python\nprint(" + repr(numbers) + ")\n```",
        "| n | n squared |\n| --- | --- |\n" + "".join(f"| {n} | {n * n} |\n" for n in range(99)),
        " ".join(str(n) for n in range(1, 1001)),
    ]
    for text in texts:
        guard = RepetitionGuard()
        assert guard.feed_all(vocabulary.tokenize(text)) is None, text
    loop = RepetitionGuard().feed_all(vocabulary.tokenize("I cannot do that. " * 60))
    assert loop is not None and loop.repeats >= 4
    vocabulary.close()


def test_the_runtimes_own_port_answers_only_with_its_key(model_file: Path) -> None:
    """llama.cpp's server listens on loopback for the template and tokenizer: another
    local user must not get the model (or its slots) through it."""
    runtime = LlamaRuntime(model_file, context_window=512, threads=1)
    try:
        address = str(runtime._http.base_url)
        assert address.startswith("http://127.0.0.1:")
        assert httpx.post(f"{address}/tokenize", json={"content": "hi"}).status_code == 401
        assert httpx.post(f"{address}/completion", json={"prompt": "hi"}).status_code == 401
        assert runtime.tokenize("hi")
    finally:
        runtime.close()
