"""Degenerate repetition: a reply stuck saying the same few tokens over and over.

Small models sometimes fall into a loop and write one phrase (or line, or token) again and
again until something stops them. `RepetitionGuard` watches a reply's tokens as they come
and says when its end is one n-gram repeated back to back: the last `span` tokens each equal
the token `period` places before, with a period of at most `MAX_PERIOD` tokens, the whole
span at least `MIN_SPAN` tokens long and `MIN_REPEATS` periods. Only an exact loop counts:
lists, tables and code repeat their shape, not their tokens, and no long run of them is one
n-gram repeated (the first 20 Fibonacci numbers, a table's rows, numbered lines).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

# A loop of up to 64 tokens (about a long sentence) is seen by its tokens; a longer one is
# stopped by the reply's token bound instead.
MAX_PERIOD = 64
# At least 4 times over, and 128 tokens in all: a word or a short phrase must come 64 or 32
# times in a row, which text that means something does not do.
MIN_REPEATS = 4
MIN_SPAN = 128


@dataclass(frozen=True, slots=True)
class Repetition:
    """The loop a reply ended in: `period` tokens, repeated over the last `span` tokens."""

    period: int
    span: int

    @property
    def repeats(self) -> int:
        return self.span // self.period


class RepetitionGuard:
    """Watches one reply's tokens; `feed` says when the reply has fallen into a loop."""

    def __init__(
        self, max_period: int = MAX_PERIOD, min_repeats: int = MIN_REPEATS, min_span: int = MIN_SPAN
    ) -> None:
        self.max_period = max_period
        self.min_repeats = min_repeats
        self.min_span = min_span
        # The last tokens, enough to compare the newest with the one a period before.
        self.recent: deque[int] = deque(maxlen=max_period + 1)
        # matched[p]: how many of the last tokens each equal the token p places before.
        self.matched = [0] * (max_period + 1)

    def feed(self, token: int) -> Repetition | None:
        """Take the reply's next token; the loop it ends in, if it now ends in one."""
        recent, matched = self.recent, self.matched
        recent.append(token)
        found: Repetition | None = None
        for period in range(1, min(self.max_period, len(recent) - 1) + 1):
            matched[period] = matched[period] + 1 if recent[-1 - period] == token else 0
            span = matched[period] + period
            if found is None and span >= self.min_span and span >= period * self.min_repeats:
                found = Repetition(period, span)
        return found

    def feed_all(self, tokens: Iterable[int]) -> Repetition | None:
        """Take the reply's next tokens; the first loop they end in, if any."""
        for token in tokens:
            found = self.feed(token)
            if found is not None:
                return found
        return None
