"""The relevance of functions to a request (`backends/tool_relevance.py`), under the real
packaged MiniLM: half of the embedded model's decision to call, and which functions its
calls may name."""

from __future__ import annotations

from typing import Any

import pytest

from threadline.backends import onnx_embedder
from threadline.backends.tool_relevance import ToolRelevance, describe


def function(name: str, description: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties},
        },
    }


WEATHER = function("get_weather", "Get the current weather in a city",
                   city={"type": "string", "description": "the city's name"})  # fmt: skip
EMAIL = function("send_email", "Send an email", to={"type": "string"}, body={"type": "string"})
TIMER = function("set_timer", "Start a countdown timer", minutes={"type": "integer"})
EVENT = function("create_event", "Add an event to the user's calendar", title={"type": "string"})


@pytest.fixture(scope="module")
def relevance() -> ToolRelevance:
    assert onnx_embedder.available(), "the local extra is part of the dev install"
    return ToolRelevance(threads=2)


def test_a_function_reads_as_its_name_description_and_parameters() -> None:
    assert describe(WEATHER) == (
        "get weather: Get the current weather in a city. Takes city (the city's name)."
    )
    bare = {"type": "function", "function": {"name": "ping"}}
    assert describe(bare) == "ping: . Takes ."


def test_a_request_is_nearer_the_function_it_needs(relevance: ToolRelevance) -> None:
    weather = relevance.measure("Is it raining in Lisbon right now?", [EMAIL, WEATHER])
    arithmetic = relevance.measure("What is 12 times 7?", [EMAIL, WEATHER])
    assert weather is not None and arithmetic is not None
    assert weather.best > arithmetic.best + 0.1
    assert [tool["function"]["name"] for tool in weather.near] == ["get_weather"]


def test_functions_as_near_as_the_nearest_are_kept(relevance: ToolRelevance) -> None:
    request = "Set a 5 minute timer, and add 'Call mom' to my calendar on 2025-05-11."
    measured = relevance.measure(request, [TIMER, EVENT, EMAIL])
    assert measured is not None
    assert [tool["function"]["name"] for tool in measured.near] == ["set_timer", "create_event"]


def test_nothing_to_measure_is_none(relevance: ToolRelevance) -> None:
    assert relevance.measure("", [WEATHER]) is None
    assert relevance.measure("Hello", []) is None
