"""Token estimates, where no tokenizer counts for real.

Truncation plans prompts before a backend sees them, and the tokenizers of HTTP-served
models are not at hand, so it plans with a conservative estimate. Usage is always the
backend's own count when it gives one (OpenAI-compatible servers are asked for it with
`stream_options.include_usage`; the embedded model counts with its own tokenizer); a
backend that reports none gets this same estimate, logged as one. A prompt counted before it
is sent (`count_prompt`) is counted by the backend's tokenizer where it has one to ask.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from threadline.backends.base import Backend, ChatRequest

log = logging.getLogger("threadline.engine")

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


async def count_prompt(backend: Backend, request: ChatRequest) -> int:
    """The tokens of the prompt `request` makes, by the model's own chat template and
    tokenizer; where the backend cannot count them, the estimate, logged as one."""
    count = getattr(backend, "count_prompt_tokens", None)  # optional in a backend
    counted = await count(request) if count is not None else None
    if counted is not None:
        return counted
    estimate = estimate_request(request)
    log.info(
        "model %s: the backend has no tokenizer to count the prompt with; estimated %d "
        "prompt tokens at %d characters a token",
        request.model,
        estimate,
        CHARS_PER_TOKEN,
    )
    return estimate
