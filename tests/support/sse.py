"""Reading server-sent events off a raw HTTP response, exactly as they were framed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def frames(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event name, parsed data) per frame; `data: [DONE]` stays the string "[DONE]"."""
    name: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if name is not None or data:
                raw = "\n".join(data)
                yield name or "message", raw if raw == "[DONE]" else json.loads(raw)
            name, data = None, []
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].lstrip())


def stream_post(client: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(frames(response))
