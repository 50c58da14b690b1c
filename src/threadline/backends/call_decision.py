"""Whether the embedded model's reply to a turn with functions offered is a call or an
answer, decided before either is written (`backends/embedded.py` then writes a call under a
grammar, or lets the answer go on unconstrained).

Two ways, both greedy whatever the temperature (whether to call a function is not left to
chance: sampled, a small model's first token may as well begin an invented answer):
- `likeliest_start`: the reply's likeliest first tokens, up to LOOKAHEAD, until they show
  a call or an answer (`native`, `guided`);
- `scored_start`: P(the reply begins a call), read from the first token's distribution,
  times the request's relevance to the nearest function (`tool_relevance.py`), against a
  threshold fitted per model (`scored`). On the held-out cases it decides better than the
  model's likeliest start alone (docs/performance.md, section 9).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from threadline.backends.llama_runtime import LlamaRuntime, Piece
from threadline.backends.tool_prompt import call_or_answer

log = logging.getLogger("threadline.embedded")

LOOKAHEAD = 8  # tokens the model may take to show whether it calls or answers
TOP = 20  # the likeliest first tokens read for the probability of a call


@dataclass(slots=True)
class Start:
    """What the decision read of a reply: its first tokens and text, whether they begin a
    call, and whether the reply ended in them (with the tokens llama.cpp counted). A call's
    tokens are not kept: it is written again, under its grammar."""

    calls: bool
    tokens: list[int]
    text: str
    ended: bool
    generated: int
    # An answer to be written from the prompt without the functions.
    alone: bool = False


CALLS = Start(True, [], "", False, 0)
ALONE = Start(False, [], "", False, 0, alone=True)


def _look(
    runtime: LlamaRuntime, tokens: list[int], top: int = 1
) -> tuple[Start, list[tuple[str, int, float]]]:
    """The likeliest start, up to LOOKAHEAD tokens, and (given `top`) the likeliest first
    tokens with their probabilities."""
    read: list[int] = []
    text = ""
    kind: str | None = None
    likeliest: list[tuple[str, int, float]] = []

    def each(piece: Piece) -> bool:
        nonlocal text, kind, likeliest
        if not read:
            likeliest = piece.top
        read.extend(piece.tokens)
        text += piece.text
        kind = call_or_answer(text)
        return kind is not None

    outcome = runtime.complete(
        {"prompt": tokens, "n_predict": LOOKAHEAD, "temperature": 0.0}, each, top=top
    )
    # Ended: the model's end-of-turn came before it showed either (a reply of nothing, or
    # a short one whose every token was read).
    ended = kind is None and outcome.finish == "stop"
    return Start(kind == "call", read, text, ended, outcome.generated), likeliest


def likeliest_start(runtime: LlamaRuntime, tokens: list[int]) -> Start:
    return _look(runtime, tokens)[0]


def scored_start(
    runtime: LlamaRuntime, tokens: list[int], relevance: float | None, threshold: float
) -> Start:
    """Calls when P(call) x `relevance` reaches `threshold` (the model's, fitted on the dev
    half of benchmarks/tool_use_cases.json: `packaged_model.call_score`); the likeliest start
    decides when there is no relevance. An answer goes on from the likeliest start if that is an
    answer's; else it is written afresh without the functions (`alone`)."""
    start, likeliest = _look(runtime, tokens, TOP)
    if relevance is None:
        return start
    p_call = sum(p for token, _, p in likeliest if call_or_answer(token) == "call")
    calls = p_call * relevance >= threshold
    log.debug(
        "embedded model: P(call) %.3f x relevance %.3f: %s",
        p_call,
        relevance,
        "call" if calls else "answer",
    )
    if calls:
        return CALLS
    if start.ended or call_or_answer(start.text) == "answer":
        return start
    # It leaned toward a call the score does not back. Shown the functions, it would go on
    # to write about calling one ("Call `convert_currency` with..."): it answers from the
    # prompt without them.
    return ALONE
