"""The repetition guard on token sequences: loops stop, lists and tables do not.

Texts are made tokens the way BPE tokenizers of small models split them (each digit alone,
words with their leading space, punctuation apart); the real model's tokenizer is used in
tests/test_embedded_model.py.
"""

from __future__ import annotations

import re

from threadline.backends.repetition import MIN_SPAN, Repetition, RepetitionGuard

PIECES = re.compile(r"\d| ?[A-Za-z]+| ?[^\w\s]|\s+")


class Vocabulary:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def tokens(self, text: str) -> list[int]:
        return [self.ids.setdefault(piece, len(self.ids)) for piece in PIECES.findall(text)]


def first_loop(tokens: list[int]) -> tuple[int, Repetition] | None:
    """Where the guard stops a reply (tokens taken) and what it found, if it does."""
    guard = RepetitionGuard()
    for taken, token in enumerate(tokens, start=1):
        found = guard.feed(token)
        if found is not None:
            return taken, found
    return None


def fibonacci(count: int) -> list[int]:
    numbers = [0, 1]
    while len(numbers) < count:
        numbers.append(numbers[-1] + numbers[-2])
    return numbers[:count]


def test_a_phrase_said_over_and_over_stops() -> None:
    vocabulary = Vocabulary()
    intro = vocabulary.tokens("Here are the numbers you asked for:\n")
    phrase = vocabulary.tokens("The answer is the same as before. ")
    stopped = first_loop(intro + phrase * 100)
    assert stopped is not None
    taken, loop = stopped
    assert loop.period == len(phrase)
    assert loop.span == MIN_SPAN  # stopped as soon as the loop was long enough
    assert taken == len(intro) + MIN_SPAN


def test_one_token_over_and_over_stops() -> None:
    stopped = first_loop([5, 6, 7] + [9] * 1000)
    assert stopped == (3 + MIN_SPAN, Repetition(1, MIN_SPAN))


def test_a_long_loop_stops_after_four_rounds() -> None:
    vocabulary = Vocabulary()
    paragraph = vocabulary.tokens(
        "print(fib(20)) returned the list of the first twenty Fibonacci numbers, and the "
        "code below prints them again so that you can check every one of them yourself."
    )
    assert 32 < len(paragraph) <= 64
    stopped = first_loop(paragraph * 10)
    assert stopped is not None
    taken, loop = stopped
    assert (loop.period, loop.repeats) == (len(paragraph), 4)
    assert taken == 4 * len(paragraph)


def test_short_repeats_are_left_alone() -> None:
    vocabulary = Vocabulary()
    assert first_loop(vocabulary.tokens("ha " * 30 + "that was funny.")) is None
    assert first_loop(vocabulary.tokens("Happy birthday to you!\n" * 4)) is None
    # A loop longer than the guard looks for is left to the reply's token bound.
    assert first_loop(list(range(100)) * 5) is None


def test_lists_of_numbers_are_not_loops() -> None:
    vocabulary = Vocabulary()
    for count in (20, 100):
        numbers = fibonacci(count)
        for text in (
            f"The first {count} Fibonacci numbers are: " + ", ".join(map(str, numbers)) + ".",
            "\n".join(map(str, numbers)),
            "".join(f"{i + 1}. {n}\n" for i, n in enumerate(numbers)),
            "```python\n" + repr(numbers) + "\n```",
        ):
            assert first_loop(vocabulary.tokens(text)) is None, text
    counting = vocabulary.tokens(" ".join(str(n) for n in range(1, 1001)))
    assert first_loop(counting) is None


def test_tables_and_code_are_not_loops() -> None:
    vocabulary = Vocabulary()
    table = "| n | n squared | n cubed |\n| --- | --- | --- |\n" + "".join(
        f"| {n} | {n * n} | {n**3} |\n" for n in range(1, 60)
    )
    assert first_loop(vocabulary.tokens(table)) is None
    code = "".join(f"    values[{i}] = compute({i}, scale=2)\n" for i in range(40))
    assert first_loop(vocabulary.tokens(code)) is None
