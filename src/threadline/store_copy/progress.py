"""The copy's progress lines (`Progress`): `messages 12000/50000`, a few a second."""

from __future__ import annotations

import time
from collections.abc import Callable


class Progress:
    """Lines like `messages 12000/50000`, at most `per_second` of them a second, and always
    the last of each table."""

    def __init__(self, say: Callable[[str], None], per_second: float = 4.0) -> None:
        self.say = say
        self.interval = 1.0 / per_second
        self.last = 0.0

    def __call__(self, what: str, done: int, total: int, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            self.say(f"{what} {done}/{total}")
