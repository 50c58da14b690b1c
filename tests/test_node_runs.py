"""Runs through the official `openai` npm SDK (tests/node/runs.mjs): polling helpers, the
AssistantStream helper, function tools with tool outputs, thread-and-run and cancel.

The scripted backend plays the model; each flow of the script gets a model of its own. Node
and `npm ci` in tests/node are required: their absence fails this test, never skips it.
"""

from __future__ import annotations

from tests.support.node import run_script
from tests.support.scripted_backend import Reply, ScriptedBackend, Text, ToolCalls, texts
from tests.support.server import Server

# flow -> (what the model says, the replies it gets in turn). The script reads the texts
# and model names from THREADLINE_TEXT_<FLOW> and THREADLINE_MODEL_<FLOW>.
FLOWS: dict[str, tuple[str, tuple[Reply, ...]]] = {
    "POLL": ("The answer is 42.", (Text("The answer is 42.", chunks=4),)),
    "STREAM": (
        "Hello! How can I assist you today?",
        (Text("Hello! How can I assist you today?", chunks=6),),
    ),
    "TOOL_STREAM": (
        "It is sunny in Paris.",
        (
            ToolCalls([("get_weather", '{"city": "Paris"}')]),
            Text("It is sunny in Paris.", chunks=5),
        ),
    ),
    "TOOL_POLL": (
        "Rome: 21C at 14:00.",
        (
            ToolCalls([("get_weather", '{"city": "Rome"}'), ("get_time", '{"zone": "CET"}')]),
            Text("Rome: 21C at 14:00.", chunks=3),
        ),
    ),
    "THREAD_RUN": ("Hi Ada, nice to meet you.", (Text("Hi Ada, nice to meet you."),)),
    "THREAD_STREAM": ("Streamed hello.", (Text("Streamed hello.", chunks=3),)),
    # Answers only after 5 s: the script cancels it long before.
    "SLOW": ("too late", (Text("too late", first_delay=5),)),
    # A character every 0.2 s: the script cancels it mid-answer.
    "CANCEL_STREAM": (
        "partial answer that never ends",
        (Text("partial answer that never ends", per_char=True, chunk_delay=0.2),),
    ),
}


def _tool_messages(body: dict) -> list[dict]:
    return [m for m in body["messages"] if m.get("role") == "tool"]


def test_node_sdk_runs(server: Server, api_key: str, llm: ScriptedBackend) -> None:
    models = {flow: llm.model(*replies) for flow, (_, replies) in FLOWS.items()}
    env = {"THREADLINE_API_KEY": api_key}
    for flow, (text, _) in FLOWS.items():
        env[f"THREADLINE_MODEL_{flow}"] = models[flow]
        env[f"THREADLINE_TEXT_{flow}"] = text
    run_script("runs.mjs", server, env)

    # What the model was asked: each text flow once, each tool flow twice (the second time
    # with the tool outputs the script submitted).
    for flow in ("POLL", "STREAM", "THREAD_RUN", "THREAD_STREAM", "SLOW", "CANCEL_STREAM"):
        assert len(llm.received(models[flow])) == 1, flow
    assert "Hello, I am Ada." in texts(llm.received(models["THREAD_RUN"])[0]["messages"])
    paris = llm.received(models["TOOL_STREAM"])
    assert len(paris) == 2
    assert _tool_messages(paris[0]) == []
    assert [m["content"] for m in _tool_messages(paris[1])] == ["sunny, 24C"]
    rome = llm.received(models["TOOL_POLL"])
    assert len(rome) == 2
    assert [m["content"] for m in _tool_messages(rome[1])] == ["21C", "14:00"]
    assert {t["function"]["name"] for t in rome[0]["tools"]} == {"get_weather", "get_time"}
