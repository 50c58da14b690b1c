"""Token estimates for prompts, before a backend counts them for real.

The backends' tokenizers are not at hand for HTTP models, so truncation plans with a
conservative estimate; usage is always taken from the backend's own count when it gives one.
"""

from __future__ import annotations

from typing import Any

# English averages about four characters a token; three leaves room for other scripts.
CHARS_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 800


def estimate_text(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_message(message: dict[str, Any]) -> int:
    tokens = MESSAGE_OVERHEAD
    content = message.get("content")
    if isinstance(content, str):
        tokens += estimate_text(content)
    elif isinstance(content, list):
        for part in content:
            if part.get("type") == "text":
                tokens += estimate_text(part.get("text", ""))
            else:
                tokens += IMAGE_TOKENS
    for call in message.get("tool_calls") or []:
        function = call.get("function", {})
        tokens += estimate_text(function.get("name", "")) + estimate_text(
            function.get("arguments", "")
        )
    return tokens


def estimate_messages(messages: list[dict[str, Any]]) -> int:
    return sum(estimate_message(message) for message in messages)


def estimate_tools(tools: list[dict[str, Any]] | None) -> int:
    import json

    return estimate_text(json.dumps(tools)) if tools else 0
