"""Split text into overlapping chunks, with the semantics of OpenAI's chunking strategies.

"auto" is 800 tokens per chunk with 400 overlapping; "static" names both numbers, the size in
100..4096 and the overlap at most half the size.

OpenAI's tokenizer is not available offline, so tokens are approximated by `count_tokens`, and
chunks are cut on those approximate token boundaries. Each chunk is an exact substring of the
text, trimmed of whitespace at both ends: nothing inside a chunk is rewritten, and every
non-whitespace character of the text lies in at least one chunk, in order. (Only the whitespace
where two chunks meet is lost, and only when the overlap is 0.)
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, islice

AUTO_MAX_TOKENS = 800
AUTO_OVERLAP_TOKENS = 400
MIN_MAX_TOKENS = 100
MAX_MAX_TOKENS = 4096

# Hiragana, Katakana, CJK ideographs and Hangul: BPE tokenizers spend about a token a character.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_LETTER = rf"[^\W\d{_CJK}]"  # a word character that is no digit and not CJK
# One match is one approximate token (with the whitespace after it):
# - a word, or the rest of a word, of at most 6 letters (common words are one token);
# - else the next 4 letters of a longer word (rare words, identifiers);
# - up to 3 digits (as cl100k and o200k split numbers);
# - a CJK character;
# - 1 or 2 punctuation/symbol characters (',', '."', '->' and the like are often one token).
# Whitespace is free. Measured against cl100k (tiktoken): English prose and Python source
# come out 7-9% high, French 14% high, German, Chinese, Japanese and CSV-like lines within 8%,
# pretty-printed JSON 16% low and random base64 45% low.
# Matching depends only on the text from a token's start onwards, so any substring cut on token
# boundaries counts the same tokens it held in the whole text.
# (Whitespace trails rather than leads: a leading \s* would be quadratic on long blank runs.)
_TOKEN = re.compile(
    rf"(?:{_LETTER}{{1,6}}+(?!{_LETTER})|{_LETTER}{{4}}|\d{{1,3}}|[{_CJK}]|[^\w\s]{{1,2}})\s*"
)
_NON_SPACE = re.compile(r"\S")

# Where to cut, best first: paragraph break; line break or sentence end; any whitespace.
# A whitespace match lies in the gap between two tokens; a sentence end lies at a token's end
# (a closing quote or bracket may follow the stop; CJK full stops need no space after them).
_BREAKS = (
    r"\n[^\S\n]*\n",
    r"\n|[.!?\u2026][\"'\u201d\u2019)\]]{0,2}(?=\s)|[\u3002\uff01\uff1f]",
    r"\s",
)
_FIRST_BREAK = tuple(re.compile(pattern) for pattern in _BREAKS)
_LAST_BREAK = tuple(re.compile(rf"(?s:.*)({pattern})") for pattern in _BREAKS)  # use .match(): last


@dataclass
class Chunk:
    text: str
    tokens: int  # == count_tokens(text)


def count_tokens(text: str) -> int:
    """Approximate token count of `text` (see _TOKEN for the rules)."""
    return len(_TOKEN.findall(text))


def chunk_text(
    text: str, max_tokens: int = AUTO_MAX_TOKENS, overlap_tokens: int = AUTO_OVERLAP_TOKENS
) -> list[Chunk]:
    """Chunks of at most `max_tokens`, each starting about `overlap_tokens` before the previous
    one ended. A chunk ends at a paragraph break when one lies in the last quarter of its room,
    else at a line or sentence break there, else between words; the next chunk starts at such a
    break when one lies within the first eighth of the overlap."""
    _check_strategy(max_tokens, overlap_tokens)
    chunks: list[Chunk] = []
    window = _Window(text)
    while True:
        window.fill(max_tokens + 1)
        count = len(window.pieces)
        if not count:
            break
        last = count  # exclusive; fill() only stops short of max_tokens + 1 at the end
        if count > max_tokens:
            # Never shorter than the overlap plus one, so every step moves forward.
            low = max(overlap_tokens + 1, max_tokens - max_tokens // 4)
            last = window.best_break(low, max_tokens, latest=True)
        chunks.append(Chunk(text[window.starts[0] : window.end(last - 1)], last))
        if last == count:
            break
        first = last - overlap_tokens
        if overlap_tokens:
            first = window.best_break(first, first + overlap_tokens // 8, latest=False)
        window.drop(first)
    return chunks


def _check_strategy(max_tokens: int, overlap_tokens: int) -> None:
    for name, value in (
        ("max_chunk_size_tokens", max_tokens),
        ("chunk_overlap_tokens", overlap_tokens),
    ):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name} must be an integer.")
    if not MIN_MAX_TOKENS <= max_tokens <= MAX_MAX_TOKENS:
        raise ValueError(
            f"max_chunk_size_tokens must be between {MIN_MAX_TOKENS} and {MAX_MAX_TOKENS}."
        )
    if overlap_tokens < 0:
        raise ValueError("chunk_overlap_tokens must not be negative.")
    if overlap_tokens * 2 > max_tokens:
        raise ValueError("chunk_overlap_tokens must not exceed half of max_chunk_size_tokens.")


class _Window:
    """A sliding run of the text's tokens, matched once each and only as far as needed, so
    time is linear and memory flat however long the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pieces: list[str] = []  # each token with the whitespace after it
        self.starts: list[int] = []  # where each token starts in text
        first = _NON_SPACE.search(text)
        self.scanned = first.start() if first else len(text)  # pieces are contiguous from here
        self.done = first is None

    def fill(self, size: int) -> None:
        span = 4096
        while len(self.pieces) < size and not self.done:
            span = max(span, (size - len(self.pieces)) * 8)
            end = min(len(self.text), self.scanned + span)
            found = _TOKEN.findall(self.text, self.scanned, end)
            if end == len(self.text):
                self.done = True
            else:
                del found[-1:]  # `end` may have cut the last match short: match it again later
                span *= 2
            self.starts += islice(accumulate(map(len, found), initial=self.scanned), len(found))
            self.pieces += found
            if found:
                self.scanned = self.starts[-1] + len(found[-1])

    def drop(self, count: int) -> None:
        del self.pieces[:count], self.starts[:count]

    def end(self, index: int) -> int:
        return self.starts[index] + len(self.pieces[index].rstrip())

    def best_break(self, low: int, high: int, latest: bool) -> int:
        """The latest (or earliest) best cut before token `index`, for index in [low, high];
        high (or low) when the only cuts there are inside words."""
        offset = self.starts[low - 1]
        region = self.text[offset : self.starts[high]]
        for first, last in zip(_FIRST_BREAK, _LAST_BREAK, strict=True):
            match = last.match(region) if latest else first.search(region)
            if match is None:
                continue
            group = 1 if latest else 0
            if match.group(group)[0].isspace():  # in the gap before the token to cut at
                index = bisect_right(self.starts, offset + match.start(group))
            else:  # at the end of the token to cut after
                index = bisect_right(self.starts, offset + match.end(group) - 1)
            return min(max(index, low), high)
        return high if latest else low
