"""Real OpenAI-compatible model servers as Threadline meets them: what each supports, asked
directly, and whether a run through Threadline works on it.

Each server runs the packaged 0.5B model's GGUF in a subprocess on loopback:
- llama.cpp's own server (`llama-server`, here through xllamacpp, the embedded runtime);
- llama-cpp-python's server (`python -m llama_cpp.server`), from the environment `make test`
  builds it in (`tests/support/model_servers.py`), or the interpreter `--llama-cpp-python`
  names.

Asked directly: usage in a stream (`stream_options.include_usage`), a `json_schema` response
format, two calls in one turn, and an assistant message with tool calls and `content: null`.
Through Threadline (the official SDK, `THREADLINE_LLM_BASE_URL` set to the server): a plain
run, a function round trip (requires_action, submit, completed) and a streamed run whose
deltas must equal the stored message.

    .venv/bin/python benchmarks/servers.py [--llama-cpp-python /path/to/python] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import httpx
from common import Server, default_model, emit, stamp
from openai import OpenAI
from tests.support.model_servers import WEATHER, llama_cpp_python, running


def chat(base: str, **body: object) -> httpx.Response:
    payload = {"model": "local", "temperature": 0, "max_tokens": 200, **body}
    return httpx.post(f"{base}/chat/completions", json=payload, timeout=120)


def usage_in_stream(base: str) -> str:
    body = {
        "model": "local",
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 20,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:]).get("usage"):
                return "yes"
    return "no"


def json_schema(base: str) -> str:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    response = chat(
        base,
        messages=[{"role": "user", "content": "Invent a person."}],
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
    )
    if response.status_code != 200:
        return f"no ({response.status_code})"
    try:
        value = json.loads(response.json()["choices"][0]["message"]["content"])
    except (json.JSONDecodeError, TypeError):
        return "answers, not JSON"
    return "yes" if set(value) == {"name", "age"} else "answers, not the schema"


def parallel_calls(base: str) -> str:
    response = chat(
        base,
        messages=[{"role": "user", "content": "What is the weather in Paris and in Rome?"}],
        tools=[WEATHER],
        parallel_tool_calls=True,
    )
    if response.status_code != 200:
        return f"no ({response.status_code})"
    calls = response.json()["choices"][0]["message"].get("tool_calls") or []
    return f"{len(calls)} call(s)"


def null_content(base: str) -> str:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}  # fmt: skip
    messages = [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
    ]
    response = chat(base, messages=messages, tools=[WEATHER])
    return "taken" if response.status_code == 200 else f"refused ({response.status_code})"


def through_threadline(base: str) -> dict[str, str]:
    results: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(
            database_url=f"sqlite+aiosqlite:///{tmp}/t.db",
            data_dir=Path(tmp),
            env={"THREADLINE_LLM_BASE_URL": base, "THREADLINE_EMBEDDED": "false"},
        ).start()
        try:
            client = OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
            plain = client.beta.assistants.create(model="local", temperature=0)
            run = client.beta.threads.create_and_run_poll(
                assistant_id=plain.id,
                thread={"messages": [{"role": "user", "content": "Say hello."}]},
            )
            results["plain run"] = run.status
            tools = client.beta.assistants.create(model="local", temperature=0, tools=[WEATHER])
            run = client.beta.threads.create_and_run_poll(
                assistant_id=tools.id,
                thread={"messages": [{"role": "user", "content": "Weather in Paris?"}]},
            )
            if run.status == "requires_action":
                calls = run.required_action.submit_tool_outputs.tool_calls
                names = ",".join(c.function.name for c in calls)
                run = client.beta.threads.runs.submit_tool_outputs_and_poll(
                    run_id=run.id,
                    thread_id=run.thread_id,
                    tool_outputs=[{"tool_call_id": c.id, "output": "22C"} for c in calls],
                )
                results["function round trip"] = f"{names} -> {run.status}"
            else:
                results["function round trip"] = f"no call ({run.status})"
            thread = client.beta.threads.create(
                messages=[{"role": "user", "content": "Write two sentences about the sea."}]
            )
            streamed = ""
            with client.beta.threads.runs.stream(
                thread_id=thread.id, assistant_id=plain.id
            ) as stream:
                for event in stream:
                    if event.event == "thread.message.delta":
                        parts = event.data.delta.content or []
                        streamed += "".join(p.text.value or "" for p in parts)
            stored = client.beta.threads.messages.list(thread.id).data[0]
            same = stored.content and stored.content[0].text.value == streamed
            results["stream = stored"] = "yes" if same else "NO"
        finally:
            server.stop()
    return results


def measure(name: str, model: Path) -> dict[str, str]:
    print(f"{name} ...", file=sys.stderr)
    with running(name, model) as server:
        base = server.base_url
        row = {
            "server": name,
            "usage in streams": usage_in_stream(base),
            "json_schema": json_schema(base),
            "two calls asked for": parallel_calls(base),
            "content null beside calls": null_content(base),
        }
        row.update(through_threadline(base))
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-cpp-python", help="a Python with llama-cpp-python[server]")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    model = default_model()
    if args.llama_cpp_python:
        os.environ["TEST_LLAMA_CPP_PYTHON"] = args.llama_cpp_python
    rows = [measure("llama.cpp", model)]
    try:
        llama_cpp_python()
    except RuntimeError as missing:
        print(f"llama-cpp-python's server left out: {missing}", file=sys.stderr)
    else:
        rows.append(measure("llama-cpp-python", model))
    columns = list(rows[0])
    lines = [
        "## 12. Model servers as Threadline meets them",
        "",
        opening,
        "",
        f"The packaged 0.5B model ({model.name}) on each server, greedy. Asked directly: usage "
        "in a stream, a json_schema response format, 'the weather in Paris and in Rome' with "
        "one function offered, and a history whose tool-call message has `content: null`. "
        "Through Threadline (official SDK): a plain run, a function round trip, and whether a "
        "streamed run's deltas equal the stored message.",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(row.get(c, "") for c in columns) + " |" for row in rows),
    ]
    emit("servers", "\n".join(lines), args.write)


if __name__ == "__main__":
    main()
