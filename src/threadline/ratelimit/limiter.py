"""Admitting requests and runs against their limits, counting tokens used, and the
`x-ratelimit-*` headers that tell clients where they stand."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from threadline.ratelimit.buckets import EPSILON, Buckets, Draw, go_duration, seconds_until

log = logging.getLogger("threadline.ratelimit")

Kind = Literal["requests", "tokens"]
_SHORT = {"requests": "RPM", "tokens": "TPM"}


@dataclass(frozen=True)
class Subject:
    """Who a limit binds (a project or a key) and its limits per minute (None: none)."""

    scope: Literal["project", "key"]
    id: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def limit(self, kind: Kind) -> int | None:
        return self.requests_per_minute if kind == "requests" else self.tokens_per_minute


@dataclass(frozen=True)
class Standing:
    """One bucket after a draw."""

    subject: Subject
    kind: Kind
    limit: int
    level: float

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.level + EPSILON))

    @property
    def reset(self) -> float:
        """Seconds until the bucket is full again."""
        return seconds_until(self.level, self.limit, self.limit)

    def wait(self, need: float) -> float:
        return seconds_until(self.level, need, self.limit)


@dataclass
class Verdict:
    admitted: bool
    standings: list[Standing] = field(default_factory=list)
    # When refused: the limit that refused, and how long until it would admit.
    refused: Standing | None = None
    retry_after: float = 0.0

    def headers(self) -> dict[str, str]:
        """`x-ratelimit-limit-*`, `-remaining-*`, `-reset-*` of each kind limited, each
        from the bucket with the least left (a key's own, or its project's)."""
        headers: dict[str, str] = {}
        for kind in ("requests", "tokens"):
            found = [s for s in self.standings if s.kind == kind]
            if not found:
                continue
            tightest = min(found, key=lambda s: (s.remaining, s.limit))
            headers[f"x-ratelimit-limit-{kind}"] = str(tightest.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(tightest.remaining)
            headers[f"x-ratelimit-reset-{kind}"] = go_duration(tightest.reset)
        return headers

    def message(self) -> str:
        assert self.refused is not None
        refused = self.refused
        used = max(0, math.ceil(refused.limit - refused.level - EPSILON))
        requested = 1 if refused.kind == "requests" else 0
        return (
            f"Rate limit reached for {refused.subject.scope} {refused.subject.id} on "
            f"{refused.kind} per min ({_SHORT[refused.kind]}): Limit {refused.limit}, Used "
            f"{used}, Requested {requested}. Please try again in "
            f"{go_duration(self.retry_after)}."
        )


class RateLimiter:
    def __init__(self, buckets: Buckets) -> None:
        self.buckets = buckets

    async def _draw(
        self,
        subjects: Sequence[Subject],
        asks: dict[Kind, tuple[float, float]],
        force: bool = False,
    ) -> Verdict:
        """`asks`: the (cost, need) of each kind of bucket to draw from."""
        draws = [
            (subject, kind, Draw(f"{subject.scope}:{subject.id}:{kind}", limit, *ask))
            for subject in subjects
            for kind, ask in asks.items()
            if (limit := subject.limit(kind)) is not None
        ]
        if not draws:
            return Verdict(True)
        drawn = await self.buckets.draw([draw for _, _, draw in draws], force)
        standings = [
            Standing(subject, kind, draw.limit, level)
            for (subject, kind, draw), level in zip(draws, drawn.levels, strict=True)
        ]
        verdict = Verdict(drawn.admitted, standings)
        if not drawn.admitted:
            short = [
                (standing, draw.need)
                for standing, (_, _, draw) in zip(standings, draws, strict=True)
                if draw.need > 0 and standing.level < draw.need - EPSILON
            ]
            # Named: a requests limit before a tokens one. Waited for: all of them.
            short.sort(key=lambda pair: pair[0].kind != "requests")
            verdict.refused = short[0][0]
            verdict.retry_after = max(standing.wait(need) for standing, need in short)
        return verdict

    async def admit(self, subjects: Sequence[Subject]) -> Verdict:
        """A request: one is taken from each requests bucket, if every one has one (refused,
        nothing is taken); the verdict also tells where the tokens buckets stand."""
        return await self._draw(subjects, {"requests": (1.0, 1.0), "tokens": (0.0, 0.0)})

    async def admit_run(self, subjects: Sequence[Subject]) -> Verdict:
        """A run may start while every tokens bucket has a token left (it takes none: its
        tokens are counted as it uses them)."""
        return await self._draw(subjects, {"tokens": (0.0, 1.0)})

    async def count_tokens(self, subjects: Sequence[Subject], tokens: int) -> None:
        """Tokens a run used: taken from every tokens bucket, even below empty."""
        if tokens > 0:
            await self._draw(subjects, {"tokens": (float(tokens), 0.0)}, force=True)
