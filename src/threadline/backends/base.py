"""What the engine asks of a model backend: a streamed chat completion, the tokens of a prompt,
and typed faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(slots=True)
class ChatRequest:
    """An OpenAI chat-completions request, already in wire form."""

    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.tools:
            body["tools"] = self.tools
            if self.tool_choice is not None:
                body["tool_choice"] = self.tool_choice
            if self.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = self.parallel_tool_calls
        for name in ("response_format", "temperature", "top_p", "max_tokens", "reasoning_effort"):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of the `index`-th tool call; `id` and `name` come with its first fragment."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(slots=True)
class Finish:
    reason: str  # stop | length | tool_calls | content_filter
    usage: Usage | None = None


Chunk = TextDelta | ToolCallDelta | Finish

FaultKind = Literal["rate_limit", "server", "invalid_prompt", "timeout", "stream", "config"]


@dataclass
class BackendError(Exception):
    """A backend fault. `retryable` faults are tried again with backoff before failing a run."""

    kind: FaultKind
    message: str
    status: int | None = None
    retry_after: float | None = field(default=None)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind in ("rate_limit", "server", "timeout", "stream")

    @property
    def run_error_code(self) -> str:
        """The run's `last_error.code` once retries are spent."""
        if self.kind == "rate_limit":
            return "rate_limit_exceeded"
        if self.kind == "invalid_prompt":
            return "invalid_prompt"
        return "server_error"


class Backend(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        """Chunks of one completion, ending with a `Finish`; faults raise `BackendError`."""
        ...

    async def health(self) -> str | None:
        """What stops the backend from answering now, or None."""
        ...

    async def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """The tokens of the prompt `request` makes, by the model's own chat template and
        tokenizer; None where the backend has no way to count them (then they are
        estimated). Optional: a backend without it is always estimated."""
        ...

    async def aclose(self) -> None: ...
