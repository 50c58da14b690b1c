"""How a turn stops a run early: it fails, or ends incomplete (a budget ran out)."""

from __future__ import annotations


class RunFailure(Exception):
    """The run fails with this `last_error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RunIncomplete(Exception):
    """The run ends `incomplete` for this reason (`max_prompt_tokens`, ...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
