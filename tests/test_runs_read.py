"""Runs and run steps as the store holds them: list, retrieve, update; steps with include.

The run engine is what creates runs; here they are inserted through the store layer.
"""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support import store
from tests.support.server import Server

CONTENT = "step_details.tool_calls[*].file_search.results[*].content"
QUERY = "step_details.tool_calls[*].file_search.query"  # a Threadline extension


@pytest.fixture
def thread_with_run(client: OpenAI, server: Server) -> tuple[str, dict, list[dict]]:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "weather?"}])
    run = store.run_fields(
        thread.id,
        assistant.id,
        instructions="Be helpful.",
        tools=[{"type": "function", "function": {"name": "f", "description": None,
                                                 "parameters": None, "strict": False}},
               {"type": "file_search", "file_search": {"max_num_results": None,
                "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0}}}],
        metadata_={"run": "1"},
        max_prompt_tokens=1000,
        max_completion_tokens=500,
        tool_choice={"type": "function", "function": {"name": "f"}},
        response_format={"type": "json_object"},
    )  # fmt: skip
    tool_step = store.step_fields(
        run,
        {
            "type": "tool_calls",
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "f", "arguments": "{}", "output": "42"}},
                {"id": "call_2", "type": "file_search", "file_search": {
                    "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                    "results": [{"file_id": "file-1", "file_name": "a.txt", "score": 0.9,
                                 "content": [{"type": "text", "text": "chunk text"}]}]}},
                {"id": "call_3", "type": "code_interpreter", "code_interpreter": {
                    "input": "print(1)",
                    "outputs": [{"type": "logs", "logs": "1\n"},
                                {"type": "image", "image": {"file_id": "file-img"}}]}},
            ],
        },
    )  # fmt: skip
    # What the engine keeps of a built-in call: its arguments, as the model wrote them.
    tool_step["inputs"] = {"call_2": {"arguments": '{"query": "leave days"}'}}
    message_step = store.step_fields(
        run, {"type": "message_creation", "message_creation": {"message_id": "msg_1"}}
    )
    store.insert(
        server.database_url,
        (store.Run, run),
        (store.RunStep, tool_step),
        (store.RunStep, message_step),
    )
    return thread.id, run, [tool_step, message_step]


def test_list_and_retrieve_runs(client: OpenAI, thread_with_run) -> None:
    thread_id, run, _ = thread_with_run
    page = client.beta.threads.runs.list(thread_id)
    assert [r.id for r in page.data] == [run["id"]]
    got = client.beta.threads.runs.retrieve(run["id"], thread_id=thread_id)
    assert got == page.data[0]
    assert got.object == "thread.run" and got.status == "completed"
    assert got.instructions == "Be helpful."
    assert [t.type for t in got.tools] == ["function", "file_search"]
    assert got.usage.total_tokens == 15
    assert got.tool_choice.function.name == "f"
    assert got.response_format.type == "json_object"
    assert got.truncation_strategy.type == "auto"
    assert got.metadata == {"run": "1"}
    page = client.beta.threads.runs.list(thread_id, limit=1, order="asc", after=None)
    assert [r.id for r in page.data] == [run["id"]] and page.has_more is False


def test_update_run_metadata(client: OpenAI, thread_with_run, http: httpx.Client) -> None:
    thread_id, run, _ = thread_with_run
    same = client.beta.threads.runs.update(run["id"], thread_id=thread_id)
    assert same.metadata == {"run": "1"}
    changed = client.beta.threads.runs.update(run["id"], thread_id=thread_id, metadata={"x": "y"})
    assert changed.metadata == {"x": "y"}
    assert client.beta.threads.runs.retrieve(run["id"], thread_id=thread_id).metadata == {"x": "y"}
    response = http.post(f"/threads/{thread_id}/runs/{run['id']}", json={"status": "cancelled"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_parameter"


def test_steps_with_and_without_include(client: OpenAI, thread_with_run) -> None:
    thread_id, run, (tool_step, message_step) = thread_with_run
    page = client.beta.threads.runs.steps.list(run["id"], thread_id=thread_id)
    assert [s.id for s in page.data] == [message_step["id"], tool_step["id"]]
    calls = page.data[1].step_details.tool_calls
    assert [c.type for c in calls] == ["function", "file_search", "code_interpreter"]
    assert calls[0].function.output == "42"
    assert calls[1].file_search.results[0].file_name == "a.txt"
    assert calls[1].file_search.results[0].content is None
    assert calls[2].code_interpreter.outputs[1].image.file_id == "file-img"
    assert page.data[0].step_details.message_creation.message_id == "msg_1"

    page = client.beta.threads.runs.steps.list(
        run["id"], thread_id=thread_id, include=[CONTENT], limit=1, order="asc", after=None
    )
    assert [s.id for s in page.data] == [tool_step["id"]] and page.has_more is True
    result = page.data[0].step_details.tool_calls[1].file_search.results[0]
    assert result.content[0].text == "chunk text"

    bare = client.beta.threads.runs.steps.retrieve(
        tool_step["id"], thread_id=thread_id, run_id=run["id"]
    )
    assert bare.step_details.tool_calls[1].file_search.results[0].content is None
    full = client.beta.threads.runs.steps.retrieve(
        tool_step["id"], thread_id=thread_id, run_id=run["id"], include=[CONTENT]
    )
    assert full.step_details.tool_calls[1].file_search.results[0].content[0].text == "chunk text"
    assert full.usage.prompt_tokens == 10


def test_the_file_search_query_only_when_asked(client: OpenAI, thread_with_run) -> None:
    thread_id, run, (tool_step, _) = thread_with_run
    ids = {"thread_id": thread_id, "run_id": run["id"]}
    bare = client.beta.threads.runs.steps.retrieve(tool_step["id"], **ids).to_dict()
    assert "query" not in bare["step_details"]["tool_calls"][1]["file_search"]
    asked = client.beta.threads.runs.steps.retrieve(tool_step["id"], **ids, include=[QUERY])
    search = asked.step_details.tool_calls[1].file_search.to_dict()
    assert search["query"] == "leave days"
    assert "content" not in search["results"][0]  # each include is its own
    both = client.beta.threads.runs.steps.list(
        run["id"], thread_id=thread_id, include=[CONTENT, QUERY], order="asc"
    )
    search = both.data[0].step_details.tool_calls[1].file_search.to_dict()
    assert search["query"] == "leave days" and search["results"][0]["content"]


def test_step_include_is_validated(http: httpx.Client, thread_with_run) -> None:
    thread_id, run, _ = thread_with_run
    response = http.get(f"/threads/{thread_id}/runs/{run['id']}/steps?include[]=everything")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "include[0]"
    assert response.json()["error"]["code"] == "invalid_value"


# `include` as the SDKs (`include[]`), PHP (`include[0]`) and others (`include`) send it.
INCLUDE_FORMS = ["include[]={}", "include[0]={}", "include={}", "include%5B0%5D={}"]


@pytest.mark.parametrize("form", INCLUDE_FORMS)
def test_include_in_every_form(http: httpx.Client, thread_with_run, form: str) -> None:
    thread_id, run, (tool_step, _) = thread_with_run
    steps = f"/threads/{thread_id}/runs/{run['id']}/steps"
    query = form.format(CONTENT)
    for path, pick in (
        (steps, lambda body: body["data"][1]),
        (f"{steps}/{tool_step['id']}", lambda body: body),
    ):
        shown = pick(http.get(f"{path}?{query}").json())
        assert shown["step_details"]["tool_calls"][1]["file_search"]["results"][0]["content"] == [
            {"type": "text", "text": "chunk text"}
        ]
        hidden = pick(http.get(path).json())
        assert "content" not in hidden["step_details"]["tool_calls"][1]["file_search"]["results"][0]
    # Unknown values are refused alike, wherever `include` is taken.
    for method, path, body in (
        ("GET", steps, None),
        ("GET", f"{steps}/{tool_step['id']}", None),
        ("POST", f"/threads/{thread_id}/runs", {"assistant_id": run["assistant_id"]}),
        ("GET", f"/threads/{thread_id}/runs/{run['id']}/events", None),  # an extension
    ):
        response = http.request(
            method, f"{path}?{form.format(CONTENT)}&{form.format('everything')}", json=body
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["param"], error["code"]) == ("include[1]", "invalid_value")
        assert error["message"] == (
            f"Invalid value: 'everything'. Supported values are: '{CONTENT}' and '{QUERY}'."
        )
    assert [r["id"] for r in http.get(f"/threads/{thread_id}/runs").json()["data"]] == [run["id"]]


def test_include_forms_mix_in_order(http: httpx.Client, thread_with_run) -> None:
    thread_id, run, _ = thread_with_run
    query = f"include={CONTENT}&include[]=bad&include[5]={CONTENT}"
    response = http.get(f"/threads/{thread_id}/runs/{run['id']}/steps?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "include[1]"
    query = f"include={CONTENT}&include[]={CONTENT}&include[7]={CONTENT}&included=x"
    response = http.get(f"/threads/{thread_id}/runs/{run['id']}/steps?{query}")
    assert response.status_code == 200


def test_run_paths_check_ownership(client: OpenAI, thread_with_run, server: Server) -> None:
    thread_id, run, (tool_step, _) = thread_with_run
    other = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.runs.retrieve(run["id"], thread_id=other.id)
    assert error.value.body["message"] == f"No run found with id '{run['id']}'."
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.steps.retrieve(tool_step["id"], thread_id=thread_id,
                                                run_id="run_missing")  # fmt: skip
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.threads.runs.steps.retrieve("step_missing", thread_id=thread_id,
                                                run_id=run["id"])  # fmt: skip
    assert error.value.body["message"] == "No run step found with id 'step_missing'."
