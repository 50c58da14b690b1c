"""Token estimates, where no tokenizer counts for real.

Truncation plans prompts before a backend sees them, and the tokenizers of HTTP-served
models are not at hand, so it plans with a conservative estimate. Usage is always the
backend's own count when it gives one (OpenAI-compatible servers are asked for it with
`stream_options.include_usage`; the embedded model counts with its own tokenizer); a
backend that reports none gets this same estimate, logged as one.
"""

from __future__ import annotations

import json
from typing import Any

from threadline.backends.base import ChatRequest

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
    return estimate_text(json.dumps(tools)) if tools else 0


def estimate_request(request: ChatRequest) -> int:
    return estimate_messages(request.messages) + estimate_tools(request.tools)
