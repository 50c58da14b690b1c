"""The embedded backend: a GGUF model run in-process by llama.cpp (llama-cpp-python).

Inference runs on one worker thread, off the event loop; requests queue for it in arrival
order, and each streams its tokens back as they come. A consumer that stops listening
(a cancelled run) stops the generation at the next token.

Small models call tools reliably only when their output is constrained. With tools offered,
the model is shown them by its own chat template (Qwen's `<tools>` block) and decides first:
its likeliest first few tokens say whether it begins a call (`<tool_call>`, or the call's
JSON alone or in a ```json fence, as small models often write it) or an answer. An answer
goes on from there unconstrained and streams as it comes; a call is written again from the
prompt under a grammar of the calls the model was trained to write, `<tool_call>{"name":
<const>, "arguments": <the tool's parameters>}</tool_call>`, one or more.
(`embedded_tool_prompt` chooses this, the same with a short guiding preamble, or the older
single-object JSON grammar; benchmarks/tool_use.py compares them.) Tool results are
restated to the model as plain text in a user turn: as `tool` messages, small models tend to
echo them back as JSON.

llama-cpp-python comes with the `local` extra (`pip install 'threadline[local]'`) and is
imported only when the model is first used; `llama_cpp_problem` says why it cannot be.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from threadline.backends.base import (
    BackendError,
    ChatRequest,
    Chunk,
    Finish,
    Usage,
)
from threadline.backends.repetition import Repetition, RepetitionGuard
from threadline.backends.reply_decoders import JsonReplyDecoder, NativeReplyDecoder
from threadline.backends.tool_prompt import (
    CALL_HINT,
    GUIDE,
    REPLY_HINT,
    call_or_answer,
    calls_grammar,
    format_schema,
    plain_history,
    tool_schema,
    with_system_hint,
)

log = logging.getLogger("threadline.embedded")

LOOKAHEAD = 8  # tokens the model may take to show whether it calls or answers
_CALLING = object()  # the worker's word to the decoder: what follows is calls
_END = object()


NEEDS_LLAMA_CPP = "the embedded model needs llama-cpp-python"
LOCAL_EXTRA = "pip install 'threadline[local]'"
REBUILD = "pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python"
OR_SERVER = "(or set THREADLINE_LLM_BASE_URL to an OpenAI-compatible server)"


class MissingExtra(RuntimeError):
    """A setting asks for a part whose optional dependencies are not installed."""


@cache
def llama_cpp_problem() -> str | None:
    """Why llama-cpp-python cannot run the embedded model here (one line), or None."""
    try:
        import llama_cpp  # noqa: F401
    except ModuleNotFoundError as error:
        if error.name == "llama_cpp":
            return f"{NEEDS_LLAMA_CPP}: {LOCAL_EXTRA}"
        return _does_not_load(error)
    except Exception as error:  # its shared library, say
        return _does_not_load(error)
    return None


def _does_not_load(error: BaseException) -> str:
    # Its compiled part is missing or was built for another machine: building it again here
    # mends both.
    return (
        f"{NEEDS_LLAMA_CPP}, which is installed but does not load ({_first_line(error)}); "
        f"build it again: {REBUILD}"
    )


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@dataclass
class _Job:
    prompt: str
    grammar: str | None  # a GBNF grammar
    max_tokens: int | None
    temperature: float
    top_p: float
    queue: asyncio.Queue[Any]
    loop: asyncio.AbstractEventLoop
    cancelled: threading.Event
    # With tools offered: `_decide` looks at the reply's start; a call is written again
    # under `grammar`, an answer goes on with none.
    decide: bool = False


@lru_cache(maxsize=64)
def _grammar(gbnf: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_string(gbnf, verbose=False)


@lru_cache(maxsize=64)
def _schema_grammar(schema: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema)


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
        self._llama: Any = None
        self._template: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-model")

    async def health(self) -> str | None:
        """What stops this model from answering, or None (it loads on its first call)."""
        if not self.model_path.is_file():
            return f"no model file at {self.model_path}"
        return llama_cpp_problem()

    # -- the model, on the worker thread --------------------------------------------------

    def _load(self) -> Any:
        if self._llama is None:
            problem = llama_cpp_problem()
            if problem is not None:
                raise BackendError("config", problem)
            from llama_cpp import Llama
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.context_window,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
            template = llama.metadata.get("tokenizer.chat_template")
            if not template:
                raise BackendError("config", f"{self.model_path} has no chat template")
            eos = llama._model.token_get_text(llama.token_eos())
            self._template = Jinja2ChatFormatter(
                template=template, eos_token=eos, bos_token="", add_generation_prompt=True
            )
            self._llama = llama
        return self._llama

    def _run(self, job: _Job) -> None:
        def send(item: Any) -> None:
            job.loop.call_soon_threadsafe(job.queue.put_nowait, item)

        try:
            llama = self._load()
            tokens = llama.tokenize(job.prompt.encode(), add_bos=False, special=True)
            room = self.context_window - len(tokens)
            if room <= 0:
                raise BackendError(
                    "invalid_prompt",
                    f"the prompt has {len(tokens)} tokens; the model's context holds "
                    f"{self.context_window}",
                )
            limit = min(job.max_tokens or self.max_turn_tokens, room)
            finish = "stop"
            grammar = job.grammar
            begun: list[int] = []  # an answer's first tokens, from the decision
            ended = False
            if job.decide and limit > LOOKAHEAD:
                calls, begun, ended = self._decide(llama, tokens)
                if calls:
                    send(_CALLING)
                    begun = []
                else:
                    grammar = None  # an answer: the model goes on unconstrained
                    if text := llama.detokenize(begun).decode(errors="replace"):
                        send(text)
            going_on = tokens + begun
            stream = (
                []
                if ended
                else llama.create_completion(
                    going_on,
                    max_tokens=limit - len(begun),
                    temperature=job.temperature,
                    top_p=job.top_p,
                    grammar=_grammar(grammar) if grammar else None,
                    stream=True,
                )
            )
            guard = RepetitionGuard()
            looping: Repetition | None = None
            seen = len(tokens)
            for chunk in stream:
                if job.cancelled.is_set():
                    finish = "cancelled"
                    break
                choice = chunk["choices"][0]
                if choice["text"]:
                    send(choice["text"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                # The reply's tokens so far (the newest is evaluated with the next one).
                looping = guard.feed_all(llama.input_ids[seen : llama.n_tokens].tolist())
                seen = max(seen, llama.n_tokens)
                if looping is not None:
                    finish = "length"
                    log.warning(
                        "embedded model: reply stopped after %d tokens, its last %d repeating "
                        "the same %d tokens",
                        llama.n_tokens - len(tokens),
                        looping.span,
                        looping.period,
                    )
                    break
            bounded = limit == self.max_turn_tokens and job.max_tokens is None
            if finish == "length" and bounded and looping is None:
                log.warning(
                    "embedded model: reply stopped at %d tokens, the bound of a reply that sets "
                    "none (THREADLINE_EMBEDDED_MAX_TURN_TOKENS)",
                    limit,
                )
            after = 0 if ended else max(0, llama.n_tokens - len(going_on))
            usage = Usage(len(tokens), len(begun) + after)
            send((_END, finish, usage))
        except BackendError as error:
            send(error)
        except Exception as error:  # a fault in llama.cpp must end the request, not hang it
            log.exception("embedded model failed")
            send(BackendError("server", f"the embedded model failed: {error}"))

    @staticmethod
    def _decide(llama: Any, tokens: list[int]) -> tuple[bool, list[int], bool]:
        """(calls, the tokens read, whether the reply ended in them): the likeliest start of
        the reply, up to LOOKAHEAD tokens, until it shows a call or an answer. Greedy
        whatever the temperature: whether to call a function is not left to chance (sampled,
        a small model's first token may as well begin an invented answer)."""
        import llama_cpp

        read: list[int] = []
        for token in llama.generate(tokens, temp=0.0):
            if llama_cpp.llama_vocab_is_eog(llama._model.vocab, token):
                return False, read, True
            read.append(token)
            kind = call_or_answer(llama.detokenize(read).decode(errors="ignore"))
            if kind is not None or len(read) >= LOOKAHEAD:
                return kind == "call", read, False
        return False, read, True

    def _prompt(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        assert self._template is not None
        return self._template(messages=messages, tools=tools).prompt

    # -- the backend interface ------------------------------------------------------------

    async def aclose(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _prepared(self) -> None:
        if self._llama is None:
            await asyncio.get_running_loop().run_in_executor(self._worker, self._load)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        await self._prepared()
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
        messages = plain_history(request.messages)
        grammar: str | None = None
        # A structured answer beside tools needs the one grammar that holds both.
        native = tools and self.tool_prompt != "json" and response_schema is None
        decide = False
        if native:
            assert tools is not None
            if self.tool_prompt == "guided":
                messages = with_system_hint(messages, GUIDE)
            decide = request.tool_choice in (None, "auto")
            parallel = request.parallel_tool_calls is not False
            grammar = calls_grammar(tool_schema(tools, request.tool_choice), parallel)
        elif tools:
            reply = response_schema or {"type": "string"}
            hint = REPLY_HINT if request.tool_choice in (None, "auto") else CALL_HINT
            messages = with_system_hint(messages, hint)
            grammar = _schema_grammar(json.dumps(tool_schema(tools, request.tool_choice, reply)))
        elif response_schema is not None:
            grammar = _schema_grammar(json.dumps(response_schema))
        prompt = self._prompt(messages, tools)

        job = _Job(
            prompt=prompt,
            grammar=grammar,
            max_tokens=request.max_tokens,
            temperature=1.0 if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            queue=asyncio.Queue(),
            loop=asyncio.get_running_loop(),
            cancelled=threading.Event(),
            decide=decide,
        )
        self._worker.submit(self._run, job)
        decoder: JsonReplyDecoder | NativeReplyDecoder
        if native:
            assert tools is not None
            names = [tool["function"]["name"] for tool in tools]
            decoder = NativeReplyDecoder(names, decide)
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
