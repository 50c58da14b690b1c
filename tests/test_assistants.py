"""Assistants through the official SDK, strict: every method, bare and with every option."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai import OpenAI

FUNCTION = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        "strict": True,
    },
}


def test_create_with_only_the_model(client: OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    assert assistant.id.startswith("asst_")
    assert assistant.object == "assistant"
    assert assistant.model == "gpt-4o"
    assert assistant.name is None and assistant.instructions is None
    assert assistant.tools == []
    assert assistant.metadata == {}
    assert assistant.temperature == 1.0 and assistant.top_p == 1.0
    assert assistant.response_format == "auto"


def test_create_with_every_option(client: OpenAI, http: httpx.Client) -> None:
    upload = client.files.create(file=("notes.txt", b"some notes"), purpose="assistants")
    assistant = client.beta.assistants.create(
        model="any-model-name",
        name="Math Tutor",
        description="Helps with maths",
        instructions="You are a personal math tutor.",
        reasoning_effort="low",
        tools=[
            {"type": "code_interpreter"},
            {
                "type": "file_search",
                "file_search": {
                    "max_num_results": 7,
                    "ranking_options": {"ranker": "auto", "score_threshold": 0.5},
                },
            },
            FUNCTION,
        ],
        tool_resources={"code_interpreter": {"file_ids": [upload.id]}},
        metadata={"team": "maths"},
        temperature=0.2,
        top_p=0.5,
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "schema": {"type": "object", "properties": {"x": {"type": "number"}}},
                "strict": True,
            },
        },
    )
    assert assistant.name == "Math Tutor"
    assert assistant.description == "Helps with maths"
    assert assistant.tool_resources.code_interpreter.file_ids == [upload.id]
    kinds = [tool.type for tool in assistant.tools]
    assert kinds == ["code_interpreter", "file_search", "function"]
    file_search = assistant.tools[1].file_search
    assert file_search.max_num_results == 7
    assert file_search.ranking_options.ranker == "auto"
    assert file_search.ranking_options.score_threshold == 0.5
    assert assistant.tools[2].function.name == "get_weather"
    assert assistant.tools[2].function.strict is True
    assert assistant.response_format.type == "json_schema"
    assert assistant.response_format.json_schema.name == "answer"
    assert assistant.temperature == 0.2 and assistant.top_p == 0.5
    # The raw object carries every key of the spec's AssistantObject.
    raw = http.get(f"/assistants/{assistant.id}").json()
    assert set(raw) == {
        "id", "object", "created_at", "name", "description", "model", "instructions",
        "tools", "tool_resources", "metadata", "temperature", "top_p", "response_format",
    }  # fmt: skip


def test_retrieve(client: OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o", name="a")
    assert client.beta.assistants.retrieve(created.id) == created


def test_update_bare_changes_nothing(client: OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o", name="a", metadata={"k": "v"})
    assert client.beta.assistants.update(created.id) == created


def test_update_with_every_option(client: OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o", tools=[FUNCTION])
    upload = client.files.create(file=("a.csv", b"a,b\n1,2\n"), purpose="assistants")
    updated = client.beta.assistants.update(
        created.id,
        model="gpt-4.1",
        name="New",
        description="New description",
        instructions="Be brief.",
        reasoning_effort="high",
        tools=[{"type": "code_interpreter"}],
        tool_resources={"code_interpreter": {"file_ids": [upload.id]}},
        metadata={"v": "2"},
        temperature=1.5,
        top_p=0.1,
        response_format={"type": "json_object"},
    )
    assert updated.id == created.id and updated.created_at == created.created_at
    assert updated.model == "gpt-4.1"
    assert (updated.name, updated.description, updated.instructions) == (
        "New",
        "New description",
        "Be brief.",
    )
    assert [tool.type for tool in updated.tools] == ["code_interpreter"]
    assert updated.tool_resources.code_interpreter.file_ids == [upload.id]
    assert updated.metadata == {"v": "2"}
    assert (updated.temperature, updated.top_p) == (1.5, 0.1)
    assert updated.response_format.type == "json_object"
    assert client.beta.assistants.retrieve(created.id) == updated


def test_delete(client: OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o")
    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "assistant.deleted")
    with pytest.raises(openai.NotFoundError) as error:
        client.beta.assistants.retrieve(created.id)
    assert error.value.body["message"] == f"No assistant found with id '{created.id}'."


def test_list_bare_and_with_every_option(client: OpenAI) -> None:
    made = [client.beta.assistants.create(model="gpt-4o", name=str(i)) for i in range(5)]
    page = client.beta.assistants.list()
    assert [a.id for a in page.data] == [a.id for a in reversed(made)]
    assert page.has_more is False
    page = client.beta.assistants.list(limit=2, order="asc", after=made[0].id, before=made[4].id)
    assert [a.id for a in page.data] == [made[1].id, made[2].id]
    assert page.has_more is True
    assert (page.first_id, page.last_id) == (made[1].id, made[2].id)


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({}, "model", "missing_required_parameter"),
        ({"model": 5}, "model", "invalid_type"),
        ({"model": "m", "name": "x" * 257}, "name", "string_above_max_length"),
        ({"model": "m", "description": "x" * 513}, "description", "string_above_max_length"),
        ({"model": "m", "instructions": "x" * 256_001}, "instructions", "string_above_max_length"),
        ({"model": "m", "tools": [{"type": "code_interpreter"}] * 129}, "tools",
         "array_above_max_length"),
        ({"model": "m", "tools": [{"type": "browser"}]}, "tools[0].type", "invalid_value"),
        ({"model": "m", "tools": [{"type": "function"}]}, "tools[0].function",
         "missing_required_parameter"),
        ({"model": "m", "tools": [{"type": "function", "function": {"name": "a b"}}]},
         "tools[0].function.name", "invalid_value"),
        ({"model": "m", "tools": [{"type": "file_search",
                                   "file_search": {"max_num_results": 51}}]},
         "tools[0].file_search.max_num_results", "integer_above_max_value"),
        ({"model": "m", "tools": [{"type": "file_search", "file_search": {
            "ranking_options": {"ranker": "best", "score_threshold": 0.5}}}]},
         "tools[0].file_search.ranking_options.ranker", "invalid_value"),
        ({"model": "m", "tools": [{"type": "file_search", "file_search": {
            "ranking_options": {"score_threshold": 1.5}}}]},
         "tools[0].file_search.ranking_options.score_threshold", "decimal_above_max_value"),
        ({"model": "m", "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({"model": "m", "temperature": -1}, "temperature", "integer_below_min_value"),
        ({"model": "m", "top_p": 1.1}, "top_p", "decimal_above_max_value"),
        ({"model": "m", "reasoning_effort": "extreme"}, "reasoning_effort", "invalid_value"),
        ({"model": "m", "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata",
         "object_above_max_properties"),
        ({"model": "m", "metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length"),
        ({"model": "m", "metadata": {"k": "v" * 513}}, "metadata", "string_above_max_length"),
        ({"model": "m", "metadata": {"k": 1}}, "metadata.k", "invalid_type"),
        ({"model": "m", "response_format": {"type": "xml"}}, "response_format.type",
         "invalid_value"),
        ({"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["f"] * 21}}},
         "tool_resources.code_interpreter.file_ids", "array_above_max_length"),
        ({"model": "m", "tool_resources": {"code_interpreter": {"file_ids": ["file-nope"]}}},
         "tool_resources.code_interpreter.file_ids[0]", None),
        ({"model": "m", "tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
         "tool_resources.file_search.vector_store_ids", "array_above_max_length"),
        ({"model": "m", "unknown": 1}, "unknown", "unknown_parameter"),
    ],
)  # fmt: skip
def test_create_rejects_bad_input(http: httpx.Client, body: dict, param: str, code: str) -> None:
    response = http.post("/assistants", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["code"] == code
    assert error["message"]
    # Nothing was created.
    assert http.get("/assistants").json()["data"] == []


def test_null_means_not_given(http: httpx.Client) -> None:
    response = http.post(
        "/assistants",
        json={"model": "m", "name": None, "instructions": None, "metadata": None, "tools": None,
              "temperature": None, "top_p": None, "response_format": None,
              "tool_resources": None},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metadata"] == {} and body["tools"] == [] and body["temperature"] == 1.0
    updated = http.post(f"/assistants/{body['id']}", json={"name": None, "metadata": None})
    assert updated.json() == body


def test_update_validates_like_create(http: httpx.Client, client: OpenAI) -> None:
    created = client.beta.assistants.create(model="gpt-4o", name="keep")
    response = http.post(f"/assistants/{created.id}", json={"name": "x" * 300})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"
    response = http.post(f"/assistants/{created.id}", json={"file_ids": []})
    assert response.status_code == 400
    assert client.beta.assistants.retrieve(created.id).name == "keep"
