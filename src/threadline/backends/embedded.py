"""The embedded backend: a GGUF model run in-process by llama.cpp (backends/llama_runtime.py).

Inference runs on one worker thread, off the event loop; requests queue for it in arrival
order, and each streams its tokens back as they come. A consumer that stops listening
(a cancelled run) stops the generation at the next token.

Small models call tools reliably only when their output is constrained. With tools offered,
the model is shown them by its own chat template (Qwen's `<tools>` block) and decides first
whether it begins a call or an answer (`call_decision.py`: by default its probability of
beginning a call times the message's relevance to the nearest function). An answer goes on
unconstrained and streams as it comes; a call is written again from the prompt under a
grammar (llguidance's, which llama.cpp runs) of the calls the model was trained to write,
`<tool_call>{"name": <const>, "arguments": <the tool's parameters>}</tool_call>`, one or
more, ending at one that asks again what another asked.
(`embedded_tool_prompt` chooses this, the model's likeliest first tokens alone, the same
with a short guiding preamble, or the older single-object JSON grammar;
benchmarks/tool_use.py compares them.) Tool results are restated to the model as plain text
in a user turn: as `tool` messages, small models tend to echo them back as JSON.

xllamacpp (llama.cpp, prebuilt) comes with the `local` extra (`pip install
'threadline[local]'`) and is imported only when the model is first used; `runtime_problem`
says why it cannot be.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from threadline.backends import packaged_model
from threadline.backends.base import (
    BackendError,
    ChatRequest,
    Chunk,
    Finish,
    Usage,
)
from threadline.backends.call_decision import (
    CALLS,
    LOOKAHEAD,
    Start,
    likeliest_start,
    scored_start,
)
from threadline.backends.llama_runtime import LlamaRuntime, Piece, RuntimeFault
from threadline.backends.repetition import Repetition, RepetitionGuard
from threadline.backends.reply_decoders import JsonReplyDecoder, NativeReplyDecoder
from threadline.backends.tool_parsing import CallWatch, required_arguments
from threadline.backends.tool_prompt import (
    CALL_HINT,
    GUIDE,
    REPLY_HINT,
    GrammarError,
    calls_grammar,
    format_schema,
    json_grammar,
    named_function,
    plain_history,
    tool_schema,
    with_system_hint,
)
from threadline.backends.tool_relevance import ToolRelevance

log = logging.getLogger("threadline.embedded")

_CALLING = object()  # the worker's word to the decoder: what follows is calls
_END = object()


NEEDS_RUNTIME = "the embedded model needs xllamacpp"
LOCAL_EXTRA = "pip install 'threadline[local]'"
REINSTALL = "install it again: pip install --force-reinstall --no-deps --no-cache-dir xllamacpp"
SYSTEM_PACKAGES = {
    "libgomp": " (Debian and Ubuntu: apt-get install libgomp1; Fedora: dnf install libgomp)"
}
OR_SERVER = "(or set THREADLINE_LLM_BASE_URL to an OpenAI-compatible server)"


class MissingExtra(RuntimeError):
    """A setting asks for a part whose optional dependencies are not installed."""


@cache
def runtime_problem() -> str | None:
    """Why the embedded model's runtime (xllamacpp) cannot run here (one line), or None."""
    try:
        import xllamacpp  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name == "xllamacpp":
            return f"{NEEDS_RUNTIME}: {LOCAL_EXTRA}"
        return _does_not_load(error)
    except Exception as error:  # its shared library, say
        return _does_not_load(error)
    return None


def _does_not_load(error: BaseException) -> str:
    problem = _first_line(error)
    missing = re.match(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", problem)
    if missing:
        # A system library it links to (OpenMP's libgomp) is not installed.
        library = missing.group(1)
        return (
            f"{NEEDS_RUNTIME}, which is installed but does not load ({problem}); install the "
            f"system library {library}{SYSTEM_PACKAGES.get(library.split('.so')[0], '')}"
        )
    # Its compiled part is missing or damaged: a clean install of the wheel mends both.
    return f"{NEEDS_RUNTIME}, which is installed but does not load ({problem}); {REINSTALL}"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@dataclass
class _Job:
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    grammar: str | None  # an llguidance grammar
    max_tokens: int | None
    temperature: float
    top_p: float
    queue: asyncio.Queue[Any]
    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event
    # With tools offered: `_decide` looks at the reply's start; a call is written again
    # under `grammar`, an answer goes on with none.
    decide: bool = False
    request: str = ""  # the user's message the decision is about
    parallel: bool = True  # several calls in one turn allowed
    plain: list[dict[str, Any]] | None = None  # the messages, for an answer without tools


@dataclass(slots=True)
class _Shown:
    """What the model is shown of a request (its chat template renders the messages and
    tools) and how its reply is held: tools in its own call format (`native`), or a JSON
    schema."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    native: bool
    response_schema: dict[str, Any] | None
    plain: list[dict[str, Any]]  # the messages without any hint about functions


class EmbeddedBackend:
    def __init__(
        self,
        model_path: Path,
        context_window: int = 4096,
        threads: int = 2,
        max_turn_tokens: int = 1024,
        tool_prompt: str = "native",
    ) -> None:
        self.model_path = model_path
        self.context_window = context_window
        self.threads = threads
        # A reply that asks for no bound gets this one: nothing else stops a model that
        # never ends its reply but the context window, minutes later.
        self.max_turn_tokens = max_turn_tokens
        self.tool_prompt = tool_prompt
        self._relevance = ToolRelevance(threads) if tool_prompt == "scored" else None
        self.call_score = packaged_model.call_score(model_path)
        self._runtime: LlamaRuntime | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-model")

    async def health(self) -> str | None:
        """What stops this model from answering, or None (it loads on its first call)."""
        if not self.model_path.is_file():
            return f"no model file at {self.model_path}"
        return runtime_problem()

    # -- the model, on the worker thread --------------------------------------------------

    def _load(self) -> LlamaRuntime:
        if self._runtime is None:
            problem = runtime_problem()
            if problem is not None:
                raise BackendError("config", problem)
            try:
                runtime = LlamaRuntime(self.model_path, self.context_window, self.threads)
            except RuntimeError as error:
                raise BackendError(
                    "config", f"llama.cpp could not load {self.model_path}: {error}"
                ) from error
            self._runtime = runtime
        return self._runtime

    def _run(self, job: _Job) -> None:
        def send(item: Any) -> None:
            job.loop.call_soon_threadsafe(job.queue.put_nowait, item)

        try:
            runtime = self._load()
            tokens = runtime.prompt_tokens(job.messages, job.tools)
            # The request's prompt, as `count_prompt_tokens` counts it: the model reads it
            # whole even when its answer is then written from one without the functions.
            prompt = len(tokens)
            room = self.context_window - len(tokens)
            if room <= 0:
                raise BackendError(
                    "invalid_prompt",
                    f"the prompt has {len(tokens)} tokens; the model's context holds "
                    f"{self.context_window}",
                )
            limit = min(job.max_tokens or self.max_turn_tokens, room)
            grammar = job.grammar
            start = Start(False, [], "", False, 0)
            if job.decide and limit > LOOKAHEAD:
                measured = None
                if self._relevance is not None:
                    measured = self._relevance.measure(job.request, job.tools or [])
                    relevance = measured.best if measured else None
                    start = scored_start(runtime, tokens, relevance, self.call_score)
                else:
                    start = likeliest_start(runtime, tokens)
                if start.calls:
                    send(_CALLING)
                    start = CALLS  # written again, under the grammar
                    if measured is not None and len(measured.near) < len(job.tools or []):
                        grammar = calls_grammar(tool_schema(measured.near, None), job.parallel)
                else:
                    grammar = None  # an answer: the model goes on unconstrained
                    if start.alone and job.plain is not None:
                        tokens = runtime.prompt_tokens(job.plain, None)
                    if start.text:
                        send(start.text)
            if start.ended:
                send((_END, "stop", Usage(prompt, start.generated)))
                return
            guard = RepetitionGuard()
            looping: Repetition | None = None

            calls = CallWatch(job.tools or [], job.request) if start.calls else None

            def each(piece: Piece) -> bool:
                nonlocal looping
                if job.cancelled.is_set():
                    return True
                if piece.text:
                    send(piece.text)
                looping = guard.feed_all(piece.tokens)
                # A call that strays (`tool_parsing.kept`) ends the calls there.
                return looping is not None or (calls is not None and calls.strayed(piece.text))

            body: dict[str, Any] = {
                "prompt": tokens + start.tokens,
                "n_predict": limit - len(start.tokens),
                "temperature": job.temperature,
                "top_p": job.top_p,
            }
            if grammar:
                body["grammar"] = grammar
            outcome = runtime.complete(body, each)
            finish = outcome.finish or "stop"
            generated = len(start.tokens) + outcome.generated
            if job.cancelled.is_set():
                finish = "cancelled"
            elif looping is not None:
                finish = "length"
                log.warning(
                    "embedded model: reply stopped after %d tokens, its last %d repeating "
                    "the same %d tokens",
                    generated,
                    looping.span,
                    looping.period,
                )
            elif finish == "length" and limit == self.max_turn_tokens and job.max_tokens is None:
                log.warning(
                    "embedded model: reply stopped at %d tokens, the bound of a reply that sets "
                    "none (THREADLINE_EMBEDDED_MAX_TURN_TOKENS)",
                    limit,
                )
            send((_END, finish, Usage(prompt, generated)))
        except BackendError as error:
            send(error)
        except RuntimeFault as error:
            kind = "invalid_prompt" if error.kind == "exceed_context_size_error" else "server"
            send(BackendError(kind, f"the embedded model refused the request: {error.message}"))
        except Exception as error:  # a fault in llama.cpp must end the request, not hang it
            log.exception("embedded model failed")
            send(BackendError("server", f"the embedded model failed: {error}"))

    # -- the backend interface ------------------------------------------------------------

    async def aclose(self) -> None:
        # After the request in hand: llama.cpp's server must not stop under a completion.
        self._worker.submit(self._unload)
        self._worker.shutdown(wait=False, cancel_futures=False)

    def _unload(self) -> None:
        if self._runtime is not None:
            self._runtime.close()
            self._runtime = None

    async def _prepared(self) -> None:
        if self._runtime is None:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._load)

    def _shown(self, request: ChatRequest) -> _Shown:
        """What the model is shown of `request`: the messages and tools its chat template
        renders into the prompt."""
        tools = request.tools if request.tool_choice != "none" else None
        if (
            tools
            and request.tool_choice in (None, "auto")
            and request.messages[-1:]
            and (request.messages[-1].get("role") == "tool")
        ):
            # Right after a result, small models call the same tool again and again;
            # the answer that uses the result is what comes next.
            tools = None
        response_schema = format_schema(request.response_format)
        messages = plain = plain_history(request.messages)
        # A structured answer beside tools needs the one grammar that holds both.
        native = bool(tools) and self.tool_prompt != "json" and response_schema is None
        if native and self.tool_prompt in ("guided", "scored"):
            messages = with_system_hint(messages, GUIDE)
        elif tools and not native:
            hint = REPLY_HINT if request.tool_choice in (None, "auto") else CALL_HINT
            messages = with_system_hint(messages, hint)
        return _Shown(messages, tools, native, response_schema, plain)

    async def count_prompt_tokens(self, request: ChatRequest) -> int | None:
        """The tokens of the prompt `stream` would give the model for `request`, rendered by
        its own chat template and counted by its tokenizer, as its usage counts them. Once
        the model is loaded (on the worker thread) the count does not wait behind a reply
        being generated: llama.cpp's server answers `/apply-template` and `/tokenize` on its
        own HTTP threads, outside the slot that generates."""
        try:
            await self._prepared()
        except BackendError as error:
            log.warning("embedded model: cannot count a prompt's tokens: %s", error)
            return None
        runtime = self._runtime
        if runtime is None:  # unloaded meanwhile: the server is stopping
            return None
        shown = self._shown(request)
        try:
            tokens = await asyncio.to_thread(runtime.prompt_tokens, shown.messages, shown.tools)
        except (RuntimeFault, httpx.HTTPError) as error:
            log.warning("embedded model: cannot count a prompt's tokens: %s", error)
            return None
        return len(tokens)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        await self._prepared()
        shown = self._shown(request)
        tools, native, response_schema = shown.tools, shown.native, shown.response_schema
        grammar: str | None = None
        decide = False
        # A named function is called exactly once, as OpenAI's forced function is.
        parallel = request.parallel_tool_calls is not False and not named_function(
            request.tool_choice
        )
        try:
            if native:
                assert tools is not None
                decide = request.tool_choice in (None, "auto")
                grammar = calls_grammar(tool_schema(tools, request.tool_choice), parallel)
            elif tools:
                reply = response_schema or {"type": "string"}
                grammar = json_grammar(tool_schema(tools, request.tool_choice, reply))
            elif response_schema is not None:
                grammar = json_grammar(response_schema)
        except GrammarError as error:
            raise BackendError(
                "invalid_prompt", f"the embedded model cannot be held to this schema: {error}"
            ) from error

        request_text = _last_request(shown.messages)
        job = _Job(
            messages=shown.messages,
            tools=tools,
            grammar=grammar,
            max_tokens=request.max_tokens,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            queue=asyncio.Queue(),
            loop=asyncio.get_running_loop(),
            cancelled=threading.Event(),
            decide=decide,
            request=request_text,
            plain=shown.plain,
            parallel=parallel,
        )
        self._worker.submit(self._run, job)
        decoder: JsonReplyDecoder | NativeReplyDecoder
        if native:
            assert tools is not None
            names = [tool["function"]["name"] for tool in tools]
            decoder = NativeReplyDecoder(names, decide, required_arguments(tools), request_text)
        else:
            decoder = JsonReplyDecoder(bool(tools), response_schema is not None)
        try:
            while True:
                item = await job.queue.get()
                if isinstance(item, BackendError):
                    raise item
                if item is _CALLING:
                    assert isinstance(decoder, NativeReplyDecoder)
                    decoder.answering = False
                    continue
                if isinstance(item, tuple) and item[0] is _END:
                    _, finish, usage = item
                    for chunk in decoder.finish():
                        yield chunk
                    yield Finish("tool_calls" if decoder.called else finish, usage)
                    return
                # Tokens that arrived while this loop was busy go out as one fragment.
                while isinstance(item, str) and not job.queue.empty():
                    following = job.queue.get_nowait()
                    if not isinstance(following, str):
                        job.queue.put_nowait(following)  # the end; it is read next turn
                        break
                    item += following
                for chunk in decoder.feed(item):
                    yield chunk
        finally:
            job.cancelled.set()


def _last_request(messages: list[dict[str, Any]]) -> str:
    """The text of the last user message: what a decision to call is about."""
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""
