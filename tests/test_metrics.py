"""`GET /metrics` in the Prometheus text format, scraped and parsed after real runs."""

from __future__ import annotations

import re

import httpx
from openai import OpenAI
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import Fail, ScriptedBackend, Text


def scrape(base_url: str, **headers: str) -> dict[str, list]:
    response = httpx.get(base_url.removesuffix("/v1") + "/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_runs_requests_streams_and_backends(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn()
    model = llm.model(Fail(503), Text("Counted.", chunks=3), always=Text("Again."))
    with make_client(server, "local") as client:
        client: OpenAI
        assistant = client.beta.assistants.create(model=model)
        for _ in range(2):
            run = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "x"}]}
            )
            assert run.status == "completed"
        with client.beta.threads.create_and_run_stream(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "y"}]}
        ) as stream:
            stream.until_done()
    families = scrape(server.base_url)
    runs = families["threadline_runs"]
    assert value(runs, "threadline_runs_total", status="completed", model=model) == 3
    first = families["threadline_run_first_token_seconds"]
    assert value(first, "threadline_run_first_token_seconds_count") == 3
    assert value(families["threadline_runs_active"], "threadline_runs_active") == 0
    assert value(families["threadline_sse_streams_open"], "threadline_sse_streams_open") == 0
    backend = families["threadline_backend_requests"]
    assert value(backend, "threadline_backend_requests_total", backend="default", outcome="ok") >= 3
    assert value(backend, "threadline_backend_requests_total", outcome="server") == 1
    assert value(families["threadline_backend_retries"], "threadline_backend_retries_total") == 1
    tokens = families["threadline_tokens"]
    assert value(tokens, "threadline_tokens_total", model=model, kind="completion") > 0
    http = families["threadline_http_requests"]
    assert (
        value(http, "threadline_http_requests_total", route="/v1/threads/runs", status="200") == 3
    )
    routes = {s.labels.get("route") for s in http}
    # Routes are templates: no id makes a label of its own.
    assert not [r for r in routes if r and re.search(r"/(thread|run|asst|msg|step)_\w", r)]


def test_a_metrics_token(spawn: ServerFactory) -> None:
    server = spawn({"THREADLINE_METRICS_TOKEN": "scrape-me"})
    url = server.base_url.removesuffix("/v1") + "/metrics"
    assert httpx.get(url).status_code == 401
    assert (
        "threadline_runs_total"
        in httpx.get(url, headers={"Authorization": "Bearer scrape-me"}).text
    )
