"""An OpenAI-compatible chat-completions server (vLLM, llama.cpp server, Ollama, hosted APIs),
called over HTTP with streaming.

Real servers depart from the OpenAI wire in small ways; each departure is met here, once,
and named with the servers known to have it (`_CallHeads`, `_sent_messages`, `_finish`).

A prompt's tokens are counted by the server's own tokenizer where it offers one beside the
OpenAI API (`count_prompt_tokens`): llama.cpp's server renders the prompt (`/apply-template`)
and tokenizes it (`/tokenize`); vLLM's `/tokenize` takes the chat messages themselves. Other
servers (llama-cpp-python's, hosted APIs) have neither, and their prompts are estimated.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from threadline.backends.base import (
    BackendError,
    ChatRequest,
    Chunk,
    Finish,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from threadline.backends.repetition import RepetitionGuard
from threadline.backends.tool_parsing import with_text_tool_calls

MAX_CONNECTIONS = 512
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter")

# The server's tokenize endpoints, as the first count finds them (and each later one uses).
LLAMA_CPP = "llama.cpp"  # POST /apply-template, then POST /tokenize, at the server's root
VLLM = "vllm"  # POST /tokenize with the chat messages, answering their `count`
NO_TOKENIZER = "none"  # neither: prompts are estimated
# What an endpoint that is not there answers.
_ABSENT_STATUSES = (404, 405)

log = logging.getLogger("threadline.backend")


class OpenAIHTTPBackend:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=64),
        )
        # Calls beyond the pool's size wait here: inside httpcore's pool every waiting
        # request is matched against every connection each time one frees up, which at a
        # few hundred waiting took most of the event loop's time.
        self._slots = asyncio.Semaphore(max_connections)
        # The tokenize endpoints live beside the OpenAI API, not under /v1.
        self._root = _server_root(base_url)
        # Which tokenize endpoints the server has: learned by the first count (None: not
        # yet known), so that a server without them is not asked on every count.
        self.tokenizer: str | None = None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def health(self) -> str | None:
        """Whether the server answers (its model list; any answer but a 5xx will do)."""
        try:
            response = await self._client.get("/models", timeout=3.0)
        except httpx.HTTPError as error:
            return f"{self._client.base_url} does not answer: {type(error).__name__}"
        if response.status_code >= 500:
            return f"{self._client.base_url} answers {response.status_code}"
        return None

    async def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """The prompt's tokens by the server's own chat template and tokenizer, over the
        body `stream` sends; None when the server has no tokenize endpoint or could not
        count this prompt (said in the log)."""
        if self.tokenizer == NO_TOKENIZER:
            return None
        body = request.body()
        body["messages"] = _sent_messages(body["messages"])
        ways = {LLAMA_CPP: self._count_llama_cpp, VLLM: self._count_vllm}
        try:
            async with self._slots:
                for name in [self.tokenizer] if self.tokenizer else list(ways):
                    counted = await ways[name](body)
                    if counted.found:
                        self.tokenizer = name
                        return counted.value
        except httpx.HTTPError as error:
            log.warning("backend %s: a prompt's tokens could not be counted: %r", self._root, error)
            return None
        if self.tokenizer is None:
            log.info(
                "backend %s has no tokenize endpoint (llama.cpp's /apply-template and "
                "/tokenize, or vLLM's /tokenize): its prompts' tokens are estimated",
                self._root,
            )
            self.tokenizer = NO_TOKENIZER
        else:  # the endpoint found before is gone (another server answers there now)
            self.tokenizer = None
        return None

    async def _count_llama_cpp(self, body: dict[str, Any]) -> _Answer:
        """llama.cpp's server: the prompt as its chat completions render it (from the same
        body), tokenized as they tokenize it (special tokens added and parsed)."""
        rendered = _answer(
            await self._client.post(f"{self._root}/apply-template", json=body), "prompt", str
        )
        if rendered.value is None:
            return rendered
        tokenize = {"content": rendered.value, "add_special": True, "parse_special": True}
        tokens = _answer(
            await self._client.post(f"{self._root}/tokenize", json=tokenize), "tokens", list
        )
        return _Answer(tokens.found, None if tokens.value is None else len(tokens.value))

    async def _count_vllm(self, body: dict[str, Any]) -> _Answer:
        """vLLM: its `/tokenize` applies the chat template to the messages (and tools) and
        answers their `count`."""
        asked: dict[str, Any] = {
            "model": body["model"],
            "messages": body["messages"],
            "add_generation_prompt": True,
        }
        if body.get("tools"):
            asked["tools"] = body["tools"]
        return _answer(await self._client.post(f"{self._root}/tokenize", json=asked), "count", int)

    def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        chunks = self._stream(request)
        if request.tools and request.tool_choice != "none":
            names = [tool["function"]["name"] for tool in request.tools]
            chunks = with_text_tool_calls(chunks, names)
        return chunks

    async def _stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        body = request.body()
        body["messages"] = _sent_messages(body["messages"])
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        finish: Finish | None = None
        usage: Usage | None = None
        heads = _CallHeads()
        # Small models behind llama.cpp's server loop (Qwen2.5 0.5B after a tool result:
        # its call again, line after line, until the context is full, three minutes on two
        # cores). The server streams about a token a chunk, so a loop shows as the same
        # fragments repeating; the reply is then cut (closing the connection stops the
        # server) and ends as cut by a bound, as the embedded model's does.
        guard = RepetitionGuard()
        try:
            async with (
                self._slots,
                aconnect_sse(self._client, "POST", "/chat/completions", json=body) as source,
            ):
                response = source.response
                if response.status_code >= 400:
                    await response.aread()
                    raise _http_fault(response)
                done = False
                async for event in source.aiter_sse():
                    # Read on to the body's end after [DONE]: a connection closed with
                    # unread bytes cannot be used again, and a new one per call was the
                    # biggest single cost of a run here.
                    done = done or event.data == "[DONE]"
                    if done:
                        continue
                    try:
                        payload = json.loads(event.data)
                    except json.JSONDecodeError as error:
                        raise BackendError("stream", f"malformed stream chunk: {error}") from error
                    if "error" in payload and not payload.get("choices"):
                        raise _payload_fault(payload["error"])
                    if payload.get("usage"):
                        usage = _usage(payload["usage"])
                    for choice in payload.get("choices") or []:
                        for chunk in _chunks(choice.get("delta") or {}, heads):
                            yield chunk
                            if looping := guard.feed(hash(_fragment(chunk))):
                                log.warning(
                                    "backend reply cut: its last %d fragments repeat the same %d",
                                    looping.span,
                                    looping.period,
                                )
                                yield Finish("length")
                                return
                        if choice.get("finish_reason"):
                            finish = Finish(_finish(choice["finish_reason"]))
        except httpx.TimeoutException as error:
            raise BackendError("timeout", f"backend timed out: {error!r}") from error
        except (httpx.TransportError, SSEError) as error:
            raise BackendError("stream", f"backend connection failed: {error!r}") from error
        if finish is None:
            raise BackendError("stream", "backend stream ended without a finish reason")
        finish.usage = usage
        yield finish


@dataclass(slots=True)
class _Answer:
    """What a tokenize endpoint answered: `found` False when the server has no such
    endpoint; `value` None when it has one that did not answer this request."""

    found: bool
    value: Any = None


def _server_root(base_url: str) -> str:
    """The server's root, where the tokenize endpoints are: the base URL without `/v1`."""
    base = base_url.rstrip("/")
    return base.removesuffix("/v1")


def _answer(response: httpx.Response, key: str, kind: type) -> _Answer:
    """`key` of a tokenize endpoint's answer. An endpoint not found, or one whose answer has
    no such value (llama.cpp's `/tokenize` answers vLLM's request, naming no content, with no
    tokens and no count), is not the one looked for; one that refuses the request (a
    template that cannot render these messages) is, and says why in the log."""
    if response.status_code in _ABSENT_STATUSES:
        return _Answer(False)
    if response.is_error:
        log.warning(
            "backend %s answered %d: %s",
            response.request.url,
            response.status_code,
            _message(response),
        )
        return _Answer(True)
    try:
        answer = response.json()
    except ValueError:  # a page, not an answer
        return _Answer(False)
    value = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(value, kind) or isinstance(value, bool):
        return _Answer(False)
    return _Answer(True, value)


def _fragment(chunk: Chunk) -> str:
    return chunk.text if isinstance(chunk, TextDelta) else getattr(chunk, "arguments", "")


def _chunks(delta: dict[str, Any], heads: _CallHeads) -> list[Chunk]:
    chunks: list[Chunk] = []
    if delta.get("content"):
        chunks.append(TextDelta(delta["content"]))
    if delta.get("refusal"):
        chunks.append(TextDelta(delta["refusal"]))
    for call in delta.get("tool_calls") or []:
        function = call.get("function") or {}
        index = call.get("index", 0)
        chunks.append(
            ToolCallDelta(
                index=index,
                id=heads.new_id(index, call.get("id")),
                name=heads.new_name(index, function.get("name")),
                arguments=function.get("arguments") or "",
            )
        )
    return chunks


class _CallHeads:
    """Each streamed call's id and name as far as they have come. OpenAI sends both once, in
    a call's first delta, and the engine joins the fragments it is given; llama.cpp's server
    and llama-cpp-python's send both again in every delta of the call (joined, the name would
    be `get_weatherget_weather...`). So an id already given is dropped, and so is a name that
    repeats the whole name so far; one that extends it (a server resending the name as it
    grows) gives only what is new."""

    def __init__(self) -> None:
        self.ids: dict[int, str] = {}
        self.names: dict[int, str] = {}

    def new_id(self, index: int, given: str | None) -> str | None:
        if not given or index in self.ids:
            return None
        self.ids[index] = given
        return given

    def new_name(self, index: int, given: str | None) -> str | None:
        if not given:
            return None
        so_far = self.names.get(index, "")
        if so_far and given.startswith(so_far):
            self.names[index] = given
            return given[len(so_far) :] or None
        self.names[index] = so_far + given
        return given


def _sent_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The history as every server takes it: an assistant message that carries tool calls
    and no text has no `content` key. The spec allows `null` there too, but llama-cpp-python's
    server answers it with a validation error (LiteLLM drops the key itself)."""
    return [
        {key: value for key, value in message.items() if key != "content"}
        if message.get("tool_calls") and message.get("content") is None
        else message
        for message in messages
    ]


def _finish(reason: Any) -> str:
    """The spec's finish reason for a server's: `function_call` (older servers) is a call;
    one the spec does not know (`eos`, `abort`, `end_turn`, seen from llama.cpp forks and
    proxies) is logged and read as `stop`."""
    if reason in FINISH_REASONS:
        return str(reason)
    if reason == "function_call":
        return "tool_calls"
    log.warning("backend finish reason %r is not the spec's: read as 'stop'", reason)
    return "stop"


def _usage(raw: dict[str, Any]) -> Usage:
    return Usage(int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0))


def _message(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except (json.JSONDecodeError, AttributeError):
        pass
    return response.text[:500] or response.reason_phrase


# What a backend's refusal means, by its own words, told in Threadline's: a server's raw error
# text (llama-cpp-python's carries a traceback line and its file paths) goes to the log only.
_CAUSES = (
    (
        re.compile(r"context|too long|maximum.*tokens|exceeds", re.I),
        "the conversation is longer than the model's context window; use a truncation_strategy "
        "or a model with a larger context",
    ),
    (
        re.compile(r"response_format|json_schema|grammar", re.I),
        'it does not take this response_format; ask for {"type": "json_object"} or use a '
        "server that supports json_schema",
    ),
)
# A 5xx that says the request itself was wrong (llama-cpp-python answers its own validation
# errors with 500): retrying sends the same request again.
_INVALID = re.compile(r"validation error|invalid request|invalid_request|not supported", re.I)


def _http_fault(response: httpx.Response) -> BackendError:
    status = response.status_code
    said = _message(response)
    log.warning("backend %s answered %d: %s", response.request.url, status, said)
    if status == 429:
        retry_after = response.headers.get("retry-after")
        try:
            delay = float(retry_after) if retry_after else None
        except ValueError:
            delay = None
        return BackendError(
            "rate_limit", f"The model backend is rate limiting ({status}).", status, delay
        )
    cause = next((words for pattern, words in _CAUSES if pattern.search(said)), None)
    if status in (400, 413, 422) or (status >= 500 and (cause or _INVALID.search(said))):
        because = f": {cause}" if cause else " (its reason is in Threadline's log)"
        return BackendError(
            "invalid_prompt", f"The model backend refused the request ({status}){because}.", status
        )
    if status in (408, 409) or status >= 500:
        return BackendError("server", f"The model backend failed ({status}).", status)
    # 401, 403, 404: the backend is misconfigured; retrying will not help.
    return BackendError(
        "config",
        f"The model backend refused Threadline's request ({status}): check the backend's "
        "URL, key and model name (THREADLINE_LLM_BASE_URL, THREADLINE_LLM_API_KEY, the models "
        "file).",
        status,
    )


def _payload_fault(error: Any) -> BackendError:
    said = error.get("message") if isinstance(error, dict) else str(error)
    log.warning("backend reported an error in its stream: %s", said)
    return BackendError("server", "The model backend reported an error while answering.")
