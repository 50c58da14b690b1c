"""Rate limits at the door: each request is admitted (or answered 429) as it authenticates,
run creations also need tokens left, and every response of a limited project or key carries
the `x-ratelimit-*` headers that the SDKs read.

429s are shaped as the hosted API's: `{"error": {"message", "type": "requests" | "tokens",
"param": null, "code": "rate_limit_exceeded"}}` with `Retry-After` (whole seconds, at least
1) and `retry-after-ms`, which the SDKs' automatic retries wait for.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

from fastapi import Request
from starlette.types import Message, Receive, Scope, Send

from threadline.http.errors import APIError
from threadline.http.middleware import HTTPMiddleware
from threadline.ratelimit.limiter import RateLimiter, Subject, Verdict

log = logging.getLogger("threadline.ratelimit")

# The request's x-ratelimit-* headers, kept in its scope for `RateLimitHeaders`.
_HEADERS = "threadline.ratelimit_headers"
_WARN_EVERY = 60.0
_last_warning = 0.0


def _limiter(request: Request) -> RateLimiter | None:
    return getattr(request.app.state, "rate_limiter", None)


async def _verdict(request: Request, subjects: Sequence[Subject], run: bool) -> Verdict | None:
    limiter = _limiter(request)
    if limiter is None or not subjects:
        return None
    try:
        if run:
            return await limiter.admit_run(subjects)
        return await limiter.admit(subjects)
    except Exception:
        # The limits protect the backends; an unreachable counter store (Redis) must not
        # take the API down with it: requests pass uncounted, and the logs say so.
        global _last_warning
        if time.monotonic() - _last_warning > _WARN_EVERY:
            _last_warning = time.monotonic()
            log.exception("rate limits are not enforced: their counters cannot be reached")
        return None


def _settle(request: Request, verdict: Verdict | None) -> None:
    """Note the headers for the response; a refusal is a 429."""
    if verdict is None:
        return
    request.scope.setdefault(_HEADERS, {}).update(verdict.headers())
    if verdict.admitted:
        return
    assert verdict.refused is not None
    wait = verdict.retry_after
    raise APIError(
        429,
        verdict.message(),
        type=verdict.refused.kind,
        code="rate_limit_exceeded",
        headers={
            "retry-after": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
        },
    )


async def admit_request(request: Request, subjects: Sequence[Subject]) -> None:
    """Count the request against its requests limits; 429 when one is reached."""
    _settle(request, await _verdict(request, subjects, run=False))


async def admit_run(request: Request, subjects: Sequence[Subject]) -> None:
    """A run may start only while its tokens limits have tokens left; 429 otherwise."""
    _settle(request, await _verdict(request, subjects, run=True))


class RateLimitHeaders(HTTPMiddleware):
    """Adds the request's x-ratelimit-* headers to its response, errors and streams
    included."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            found = scope.get(_HEADERS)
            if message["type"] == "http.response.start" and found:
                names = {name.encode() for name in found}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                headers += [(name.encode(), value.encode()) for name, value in found.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
