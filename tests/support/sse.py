"""Reading server-sent events off a raw HTTP response, exactly as they were framed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx


def identified(response: httpx.Response) -> Iterator[tuple[str | None, str, Any]]:
    """(event id, event name, parsed data) per frame; `data: [DONE]` stays "[DONE]"."""
    event_id: str | None = None
    name: str | None = None
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if name is not None or data:
                raw = "\n".join(data)
                yield event_id, name or "message", raw if raw == "[DONE]" else json.loads(raw)
            event_id, name, data = None, None, []
        elif line.startswith("id:"):
            event_id = line[len("id:") :].strip()
        elif line.startswith("event:"):
            name = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data.append(line[len("data:") :].lstrip())


def frames(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event name, parsed data) per frame; `data: [DONE]` stays the string "[DONE]"."""
    for _, name, data in identified(response):
        yield name, data


def stream_post(client: httpx.Client, path: str, body: dict[str, Any]) -> list[tuple[str, Any]]:
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(frames(response))


def stream_get(
    client: httpx.Client, path: str, headers: dict[str, str] | None = None
) -> list[tuple[str | None, str, Any]]:
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(identified(response))
