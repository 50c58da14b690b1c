"""llama.cpp's own server, run in this process by xllamacpp: the embedded model's runtime.

xllamacpp ships llama.cpp prebuilt (manylinux wheels, nothing to compile). Completions are
handed to the server in-process and stream back through a callback, which can stop them; the
server also answers on a loopback port of its own (an unguessable key in front of it), and
its `/apply-template` and `/tokenize` give the model's own chat template and tokenizer,
exactly as `llama-server` applies them. Every call here blocks: the backend makes them on its
worker thread.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


class RuntimeFault(Exception):
    """llama.cpp refused a request: `kind` is its error type, `message` its words."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(slots=True)
class Piece:
    """One streamed step of a completion: its text and the tokens it was sampled as."""

    text: str
    tokens: list[int] = field(default_factory=list)
    # Asked for (`complete(..., top=N)`): the N likeliest tokens at this piece's first
    # position, as (token text, token id, probability).
    top: list[tuple[str, int, float]] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    """How a completion ended: llama.cpp's finish reason (None when stopped by the caller)
    and the tokens it generated (as it counts them, or as streamed when stopped)."""

    finish: str | None
    generated: int


class LlamaRuntime:
    def __init__(self, model_path: Path, context_window: int, threads: int) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(model_path)
        params.n_ctx = context_window
        params.n_parallel = 1  # one slot: the backend's worker sends one request at a time
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1  # llama.cpp's own log lines stay out of Threadline's log
        params.ui = False
        params.endpoint_metrics = False
        key = secrets.token_urlsafe(24)
        params.api_keys = [key]
        self._server = xllamacpp.Server(params)
        self._http = httpx.Client(
            base_url=self._server.listening_address,
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._http.post(path, json=body)
        answer = response.json()
        if response.is_error:
            error = answer.get("error", {})
            raise RuntimeFault(error.get("type", "server"), error.get("message", response.text))
        return answer

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        """The prompt the model's own chat template makes of `messages` (and `tools`), ready
        for the assistant's reply."""
        body: dict[str, Any] = {"messages": messages}
        if tools:
            body["tools"] = tools
        return self._post("/apply-template", body)["prompt"]

    def tokenize(self, text: str) -> list[int]:
        # Special tokens written in a rendered prompt (`<|im_start|>`) are those tokens.
        return self._post("/tokenize", {"content": text, "parse_special": True})["tokens"]

    def prompt_tokens(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> list[int]:
        """The tokens of the prompt the chat template makes of `messages` and `tools`: what a
        completion is given, and what its usage counts."""
        return self.tokenize(self.render(messages, tools))

    def complete(
        self, body: dict[str, Any], each: Callable[[Piece], bool], top: int = 1
    ) -> Outcome:
        """Stream the completion `body` asks for (llama-server's completion fields, `prompt`
        as tokens) to `each`, which returns True to stop it there; with `top` > 1, each piece
        comes with the likeliest tokens at its first position."""
        finish: str | None = None
        generated: int | None = None
        streamed = 0
        fault: RuntimeFault | None = None

        def on_chunk(chunk: dict[str, Any]) -> bool:
            nonlocal finish, generated, streamed, fault
            if "error" in chunk:
                error = chunk["error"]
                fault = RuntimeFault(error.get("type", "server"), error.get("message", ""))
                return True
            if usage := chunk.get("usage"):
                generated = usage.get("completion_tokens")
            choice = chunk["choices"][0]
            finish = choice.get("finish_reason") or finish
            logprobs = choice.get("logprobs") or {}
            entries = logprobs.get("content") or ()
            tokens = [entry["id"] for entry in entries]
            streamed += len(tokens)
            if not (choice["text"] or tokens):
                return False
            likeliest = [
                (option["token"], option["id"], math.exp(option["logprob"]))
                for option in (entries[0].get("top_logprobs") or () if entries and top > 1 else ())
            ]
            return each(Piece(choice["text"], tokens, likeliest))

        # Each token's id comes with its log-probability: the only place the stream has it.
        self._server.handle_completions(
            {**body, "stream": True, "logprobs": max(top, 1), "cache_prompt": True}, on_chunk
        )
        if fault is not None:
            raise fault
        return Outcome(finish, streamed if generated is None else generated)

    def close(self) -> None:
        self._http.close()
        self._server = None
