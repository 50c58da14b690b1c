"""What an operator reads: a line per request (its id, route, status, duration, project), a
line per run transition (ids, model, backend, durations, tokens, error code), as text or as
JSON lines, with the request id on the response; and no secret in any line."""

from __future__ import annotations

import json
import re

import httpx
from openai import OpenAI

from tests.conftest import ServerFactory
from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.store import create_key
from tests.support.wire import HOOKS, check_response

SECRET_LLM_KEY = "sk-upstream-very-secret-0123456789"


def run_one(server, llm: ScriptedBackend, key: str, request_id: str):
    client = OpenAI(
        base_url=server.base_url,
        api_key=key,
        max_retries=0,
        _strict_response_validation=True,
        http_client=httpx.Client(event_hooks=HOOKS),
    )
    model = llm.model(Text("Logged."))
    assistant = client.beta.assistants.create(model=model)
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "a message text that stays out"}]},
        extra_headers={"x-request-id": request_id},
    )
    return run


def test_text_lines_for_requests_and_runs(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn({"THREADLINE_LLM_API_KEY": SECRET_LLM_KEY}, extra_args=["--log-level", "info"])
    key = create_key(server.database_url, "logged")
    run = run_one(server, llm, key, "req_from-the-client-1")
    assert run.status == "completed"
    response = httpx.get(
        f"{server.base_url}/threads/{run.thread_id}/runs/{run.id}",
        headers={"Authorization": f"Bearer {key}", "x-request-id": "bad id with spaces"},
    )
    check_response(response)
    assert re.fullmatch(r"req_[0-9a-f]{32}", response.headers["x-request-id"])
    assert int(response.headers["openai-processing-ms"]) >= 0
    log = server.log()
    created = [line for line in log.splitlines() if "POST /v1/threads/runs 200" in line]
    assert created and "request_id=req_from-the-client-1" in created[0]
    assert "project=proj_" in created[0] and "duration_ms=" in created[0]
    retrieved = [
        line for line in log.splitlines() if "GET /v1/threads/{thread_id}/runs/{run_id}" in line
    ]
    assert retrieved and run.id not in retrieved[0]
    transitions = [line for line in log.splitlines() if f"run {run.id} " in line]
    statuses = [re.search(r"run_status=(\w+)", line).group(1) for line in transitions]
    assert statuses == ["queued", "in_progress", "completed"]
    done = transitions[-1]
    expected = ["model=scripted-", "backend=default", "total_ms=", "prompt_tokens=",
                "completion_tokens=", "first_token_ms=", "run_ms=",
                f"thread_id={run.thread_id}"]  # fmt: skip
    for field in expected:
        assert field in done, (field, done)
    assert "queued_ms=" in transitions[1]  # the move to in progress says how long it queued
    # The run's own lines carry the id of the request that created it.
    assert all("request_id=req_from-the-client-1" in line for line in transitions)
    for secret in (key, SECRET_LLM_KEY, "a message text that stays out"):
        assert secret not in log


def test_json_lines(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn(extra_args=["--log-level", "info", "--log-format", "json"])
    key = create_key(server.database_url, "json")
    run = run_one(server, llm, key, "req_json-1")
    # Every line the server wrote is JSON, its start-up lines included.
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert lines, server.log()
    said = [line["message"] for line in lines if line.get("logger") == "threadline.start"]
    assert any(message.startswith("serving the Assistants API at") for message in said)
    failed = [
        line for line in lines if line.get("run_id") == run.id and line["run_status"] == "failed"
    ]
    assert not failed
    done = next(
        line for line in lines if line.get("run_id") == run.id and line["run_status"] == "completed"
    )
    assert done["level"] == "INFO" and done["logger"] == "threadline.runs"
    assert done["request_id"] == "req_json-1" and done["completion_tokens"] > 0
    requests = [line for line in lines if line.get("logger") == "threadline.http"]
    assert all(
        {"method", "path", "status", "duration_ms", "request_id"} <= set(r) for r in requests
    )
