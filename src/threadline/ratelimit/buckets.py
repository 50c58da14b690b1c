"""Token buckets, kept in this process or in Redis, drawn from atomically in groups.

A bucket of limit L holds at most L and refills at L per `WINDOW` seconds. A `Draw` asks a
bucket for `cost` and requires it to hold at least `need` first (a need of 0: no check); a
group of draws is admitted only when every bucket holds what it needs, and then every cost
is taken (`force` takes them regardless: usage that already happened). A bucket that is full
is the same as one never used, so only buckets below full are stored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

WINDOW = 60.0
# Refills are float arithmetic: a bucket this close to what a draw needs has it.
EPSILON = 1e-9


@dataclass(frozen=True)
class Draw:
    key: str
    limit: int
    cost: float = 0.0
    need: float = 0.0


@dataclass(frozen=True)
class Drawn:
    """What the group's draw did: `levels` are the buckets' contents afterwards (before
    it, for the buckets of a refused group), in the order of the draws."""

    admitted: bool
    levels: list[float]


class Buckets(Protocol):
    async def draw(self, draws: Sequence[Draw], force: bool = False) -> Drawn: ...


def refilled(level: float, since: float, now: float, limit: int) -> float:
    return min(float(limit), level + max(0.0, now - since) * limit / WINDOW)


class MemoryBuckets:
    """The buckets of one process."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self._state: dict[str, tuple[float, float]] = {}  # key -> (level, when)

    async def draw(self, draws: Sequence[Draw], force: bool = False) -> Drawn:
        now = self.clock()
        levels = []
        for draw in draws:
            level, since = self._state.get(draw.key, (float(draw.limit), now))
            levels.append(refilled(level, since, now, draw.limit))
        admitted = all(
            level >= draw.need - EPSILON
            for level, draw in zip(levels, draws, strict=True)
            if draw.need > 0
        )
        if admitted or force:
            for index, draw in enumerate(draws):
                if draw.cost:
                    levels[index] -= draw.cost
                    self._state[draw.key] = (levels[index], now)
                elif levels[index] >= draw.limit:
                    self._state.pop(draw.key, None)
        return Drawn(admitted, levels)


# KEYS: the buckets; ARGV: force (0/1), the window, then limit, cost, need of each bucket.
# Redis's own clock, so that every process agrees on it. Levels come back as strings (a Lua
# number would be truncated to an integer).
_DRAW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local force = ARGV[1] == '1'
local window = tonumber(ARGV[2])
local levels = {}
local admitted = true
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i * 3])
  local need = tonumber(ARGV[i * 3 + 2])
  local state = redis.call('HMGET', KEYS[i], 'l', 't')
  local level = limit
  if state[1] then
    local elapsed = math.max(0, now - tonumber(state[2]))
    level = math.min(limit, tonumber(state[1]) + elapsed * limit / window)
  end
  levels[i] = level
  if need > 0 and level < need - 1e-9 then admitted = false end
end
if admitted or force then
  for i = 1, #KEYS do
    local limit = tonumber(ARGV[i * 3])
    local cost = tonumber(ARGV[i * 3 + 1])
    if cost > 0 then
      levels[i] = levels[i] - cost
      redis.call('HSET', KEYS[i], 'l', tostring(levels[i]), 't', tostring(now))
      redis.call('EXPIRE', KEYS[i], math.ceil((limit - levels[i]) * window / limit) + 1)
    end
  end
end
local reply = {admitted and 1 or 0}
for i = 1, #KEYS do reply[i + 1] = tostring(levels[i]) end
return reply
"""


class RedisBuckets:
    """Buckets in Redis, shared by every process of a deployment; one round trip a draw."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.prefix = prefix
        self._script = redis.register_script(_DRAW)

    async def draw(self, draws: Sequence[Draw], force: bool = False) -> Drawn:
        args: list[str] = ["1" if force else "0", repr(WINDOW)]
        for draw in draws:
            args += [str(draw.limit), repr(float(draw.cost)), repr(float(draw.need))]
        reply = await self._script(keys=[f"{self.prefix}:{d.key}" for d in draws], args=args)
        return Drawn(bool(int(reply[0])), [float(level) for level in reply[1:]])


def seconds_until(level: float, target: float, limit: int) -> float:
    """How long a bucket at `level` takes to refill to `target`."""
    return max(0.0, (target - level) * WINDOW / limit)


def go_duration(seconds: float) -> str:
    """A duration as OpenAI's headers write it (Go's format, to the millisecond): `0s`,
    `20ms`, `1s`, `8.64s`, `6m0s`, `1h2m3.5s`."""
    millis = math.ceil(round(seconds * 1000, 6))
    if millis <= 0:
        return "0s"
    if millis < 1000:
        return f"{millis}ms"
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, fraction = divmod(rest, 1000)
    text = f"{whole}.{fraction:03d}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text
