"""Responses and Conversations through the official `openai` npm SDK
(tests/node/responses.mjs). Node and `npm ci` in tests/node are required: their absence
fails this test, never skips it."""

from __future__ import annotations

import json

from tests.support.node import run_script
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server


def test_node_sdk_responses(server: Server, api_key: str, llm: ScriptedBackend) -> None:
    text = llm.model(always=Text("Hello from the model."))
    tool = llm.model(ToolCalls([("get_weather", '{"city": "Paris"}')]), Text("It is 22C in Paris."))
    code = (
        "n = int(open('/mnt/data/n.txt').read())\n"
        "open('/mnt/data/out.txt', 'w').write(str(2 * n))\nprint(2 * n)"
    )
    env = {
        "THREADLINE_API_KEY": api_key,
        "THREADLINE_MODEL_TEXT": text,
        "THREADLINE_MODEL_TOOL": tool,
        "THREADLINE_MODEL_CODE": llm.model(
            ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text("Done.")
        ),
        "THREADLINE_MODEL_SUMMARY": llm.model(Text("A summary.")),
    }
    run_script("responses.mjs", server, env)
    tool_messages = [m for m in llm.received(tool)[1]["messages"] if m["role"] == "tool"]
    assert tool_messages[0]["content"] == "22C"
