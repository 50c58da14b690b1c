"""A scripted OpenAI-compatible chat-completions server: the stand-in for an external LLM.

It is a real HTTP server (uvicorn in a background thread). Tests give each model name a
script, a queue of replies; each request for that model takes the next one. Replies can be
text (streamed in chunks, with delays), tool calls, HTTP errors, malformed streams,
dropped connections and slow starts. Every request body is recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.server import free_port


@dataclass
class Text:
    text: str
    chunks: int = 4
    first_delay: float = 0.0
    chunk_delay: float = 0.0
    finish: str = "stop"
    usage: tuple[int, int] | None = (20, 10)
    # Send the text in as many chunks as it has characters (overrides `chunks`).
    per_char: bool = False


@dataclass
class ToolCalls:
    calls: list[tuple[str, str]]
    text_before: str = ""
    usage: tuple[int, int] | None = (30, 15)
    # Real servers' ways (the quirks Threadline meets in backends/openai_http.py):
    # llama.cpp's server and llama-cpp-python's send the id and name in every delta;
    repeat_heads: bool = False
    # some servers send each call whole, in one delta, with the finish;
    whole: bool = False
    # and some end with a finish reason the spec does not have.
    finish: str = "tool_calls"
    # Cut the connection after this many argument fragments (a server going down mid-call).
    drop_after: int | None = None


@dataclass
class Fail:
    status: int
    message: str = "scripted failure"
    retry_after: float | None = None


@dataclass
class RejectNullContent:
    """llama-cpp-python's server: a history holding `"content": null` (an assistant message
    with tool calls) is answered 500 with its validation error; otherwise `then`."""

    then: Any


@dataclass
class Malformed:
    """A stream whose first chunk is not JSON."""


@dataclass
class Drop:
    """Stream `text` but cut the connection after `after` chunks."""

    text: str
    after: int = 2
    chunks: int = 6


@dataclass
class Hang:
    """Wait this long before answering at all."""

    seconds: float
    then: Any = None


@dataclass
class Echo:
    """Reply with the last user message, reversed; for many runs at once."""

    delay: float = 0.0


@dataclass
class Paced:
    """`tokens` text tokens, the first after `first_token` seconds, then `rate` a second, on
    a fixed schedule (a slow consumer does not stretch it); `rate` 0 sends them at once."""

    tokens: int = 200
    first_token: float = 0.0
    rate: float = 0.0


@dataclass
class CallThenAnswer:
    """A tool call, or `answer` once the conversation ends with a tool result: one reply
    for any number of tool round trips at once."""

    name: str = "lookup"
    arguments: str = '{"q": "x"}'
    answer: Reply | None = None


Reply = (
    Text
    | ToolCalls
    | Fail
    | Malformed
    | Drop
    | Hang
    | Echo
    | Paced
    | CallThenAnswer
    | RejectNullContent
)


def _split(text: str, parts: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // max(1, parts)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


def _usage(model: str, usage: tuple[int, int] | None) -> bytes:
    if usage is None:
        return b""
    prompt, completion = usage
    payload = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }
    return f"data: {json.dumps(payload)}\n\n".encode()


class ScriptedBackend:
    def __init__(self, port: int | None = None, default: Reply | None = None) -> None:
        self.port = port or free_port()
        # The reply for a model that has no script of its own.
        self._default = default
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._always: dict[str, Reply] = {}
        # Embeddings of inputs holding a marker wait until its event is set.
        self._held: dict[str, threading.Event] = {}
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self._ids = itertools.count()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/embeddings", self._embeddings, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ScriptedBackend:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted backend did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # -- scripting --------------------------------------------------------------------------

    def model(self, *replies: Reply, always: Reply | None = None) -> str:
        """A fresh model name whose requests get `replies` in turn (then `always`)."""
        name = f"scripted-{uuid.uuid4().hex[:10]}"
        self.script(name, *replies, always=always)
        return name

    def script(self, model: str, *replies: Reply, always: Reply | None = None) -> None:
        with self._lock:
            self._scripts[model].extend(replies)
            if always is not None:
                self._always[model] = always

    def hold_embeddings(self, marker: str) -> threading.Event:
        """Embeddings requests with `marker` in an input get no answer until the returned
        event is set (a file whose ingestion the test holds)."""
        release = threading.Event()
        with self._lock:
            self._held[marker] = release
        return release

    async def _models(self, request: Request) -> JSONResponse:
        """The scripted models, as an OpenAI-compatible server lists what it serves."""
        with self._lock:
            names = sorted({*self._scripts, *self._always})
        data = [{"id": n, "object": "model", "created": 1, "owned_by": "scripted"} for n in names]
        return JSONResponse({"object": "list", "data": data})

    def received(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests[model])

    def _next(self, model: str) -> Reply | None:
        with self._lock:
            if self._scripts[model]:
                return self._scripts[model].popleft()
            return self._always.get(model, self._default)

    # -- serving ----------------------------------------------------------------------------

    async def _embeddings(self, request: Request) -> Response:
        """Deterministic 8-dimensional vectors: letter counts of a, e, i, o, u, s, t, n."""
        body = await request.json()
        with self._lock:
            self.requests[f"embeddings:{body.get('model')}"].append(body)
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        with self._lock:
            holds = [e for m, e in self._held.items() if any(m in str(t) for t in inputs)]
        for release in holds:
            await asyncio.to_thread(release.wait, 120)
        data = [
            {"object": "embedding", "index": index,
             "embedding": [float(text.lower().count(c)) for c in "aeioustn"]}
            for index, text in enumerate(inputs)
        ]  # fmt: skip
        return JSONResponse({"object": "list", "data": data, "model": body.get("model")})

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        model = body.get("model", "")
        with self._lock:
            self.requests[model].append(body)
        reply = self._next(model)
        if isinstance(reply, Hang):
            await asyncio.sleep(reply.seconds)
            reply = reply.then
        if isinstance(reply, RejectNullContent):
            if any("content" in m and m["content"] is None for m in body.get("messages", [])):
                message = "1 validation error for ChatCompletionRequestAssistantMessage content"
                return JSONResponse({"error": {"message": message, "type": "internal"}}, 500)
            reply = reply.then
        if reply is None:
            return JSONResponse({"error": {"message": f"no script for {model}"}}, 500)
        if isinstance(reply, Fail):
            headers = {"retry-after": str(reply.retry_after)} if reply.retry_after else None
            return JSONResponse(
                {"error": {"message": reply.message, "type": "scripted"}},
                reply.status,
                headers=headers,
            )
        return StreamingResponse(self._frames(model, body, reply), media_type="text/event-stream")

    async def _frames(self, model: str, body: dict[str, Any], reply: Reply) -> AsyncIterator[bytes]:
        if isinstance(reply, Malformed):
            yield b"data: {this is not json\n\n"
            return
        if isinstance(reply, CallThenAnswer):
            last = body["messages"][-1] if body["messages"] else {}
            answered = last.get("role") == "tool"
            if answered:
                reply = reply.answer or Text("done")
            else:
                reply = ToolCalls([(reply.name, reply.arguments)])
        if isinstance(reply, Paced):
            async for frame in self._paced(model, reply):
                yield frame
            return
        if isinstance(reply, Echo):
            await asyncio.sleep(reply.delay)
            users = [m for m in body["messages"] if m.get("role") == "user"]
            last = users[-1]["content"] if users else ""
            text = last[::-1] if isinstance(last, str) else "?"
            reply = Text(text, chunks=2)
        if isinstance(reply, Text):
            await asyncio.sleep(reply.first_delay)
            yield _chunk(model, {"role": "assistant", "content": ""})
            pieces = list(reply.text) if reply.per_char else _split(reply.text, reply.chunks)
            for piece in pieces:
                yield _chunk(model, {"content": piece})
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
            yield _chunk(model, {}, reply.finish)
            yield _usage(model, reply.usage)
            yield b"data: [DONE]\n\n"
            return
        if isinstance(reply, ToolCalls):
            yield _chunk(model, {"role": "assistant", "content": None})
            for piece in _split(reply.text_before, 2):
                yield _chunk(model, {"content": piece})
            whole = []
            for index, (name, arguments) in enumerate(reply.calls):
                call_id = f"chatcmpl-tool-{next(self._ids)}"
                head = {"index": index, "id": call_id, "type": "function"}
                if reply.whole:
                    whole.append({**head, "function": {"name": name, "arguments": arguments}})
                    continue
                yield _chunk(
                    model, {"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}
                )
                for sent, piece in enumerate(_split(arguments, 3)):
                    if sent == reply.drop_after:
                        raise ConnectionAbortedError("scripted drop")
                    more: dict[str, Any] = {"index": index, "function": {"arguments": piece}}
                    if reply.repeat_heads:
                        more = {**head, "function": {"name": name, "arguments": piece}}
                    yield _chunk(model, {"tool_calls": [more]})
            if whole:
                yield _chunk(model, {"tool_calls": whole}, reply.finish)
            else:
                yield _chunk(model, {}, reply.finish)
            yield _usage(model, reply.usage)
            yield b"data: [DONE]\n\n"
            return
        if isinstance(reply, Drop):
            yield _chunk(model, {"role": "assistant", "content": ""})
            for sent, piece in enumerate(_split(reply.text, reply.chunks)):
                if sent == reply.after:
                    raise ConnectionAbortedError("scripted drop")
                yield _chunk(model, {"content": piece})
            return

    async def _paced(self, model: str, reply: Paced) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        start = loop.time() + reply.first_token
        yield _chunk(model, {"role": "assistant", "content": ""})
        for i in range(reply.tokens):
            if reply.rate or reply.first_token:
                due = start + (i / reply.rate if reply.rate else 0.0)
                await asyncio.sleep(max(0.0, due - loop.time()))
            yield _chunk(model, {"content": f" w{i}"})
        yield _chunk(model, {}, "stop")
        yield _usage(model, (20, reply.tokens))
        yield b"data: [DONE]\n\n"


def texts(messages: Iterable[dict[str, Any]]) -> list[str]:
    """The string contents of chat messages, for assertions on prompts."""
    return [m["content"] for m in messages if isinstance(m.get("content"), str)]


def main() -> None:
    """A standalone scripted backend whose every model gets one reply (for benchmarks)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--first-token-ms", type=float, default=0.0)
    parser.add_argument("--rate", type=float, default=0.0, help="tokens/s; 0: all at once")
    parser.add_argument("--tool-round-trip", action="store_true")
    args = parser.parse_args()
    text = Paced(args.tokens, args.first_token_ms / 1000, args.rate)
    reply: Reply = CallThenAnswer(answer=text) if args.tool_round_trip else text
    backend = ScriptedBackend(args.port, default=reply)
    backend._server.run()


if __name__ == "__main__":
    main()
