"""The Containers API through the official `openai` npm SDK (tests/node/containers.mjs).
Node and `npm ci` in tests/node are required: their absence fails this test, never skips
it."""

from __future__ import annotations

from tests.support.node import run_script
from tests.support.server import Server


def test_node_sdk_containers(server: Server, api_key: str) -> None:
    run_script("containers.mjs", server, {"THREADLINE_API_KEY": api_key})
