"""The domain's errors: what a request may not do, in the API's own words.

Services, the engine and the tools raise these without knowing about HTTP; `http/errors.py`
maps each class to its status and to the OpenAI error shape. This module imports nothing
of a web framework (a test keeps it so).
"""

from __future__ import annotations


class ThreadlineError(Exception):
    """A request refused by the rules. `message` is final wording shown to the client,
    `param` names the request field at fault, `code` is the machine-readable reason."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidRequest(ThreadlineError):
    """The request contradicts the rules or the state of the objects it names."""


class QuotaExceeded(InvalidRequest):
    """What the request would add exceeds one of the project's storage quotas."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message, param=param, code="quota_exceeded")


class NotFound(ThreadlineError):
    """The object does not exist, or not for this project (which the client cannot tell)."""

    def __init__(self, kind: str, object_id: str, param: str | None = None) -> None:
        super().__init__(f"No {kind} found with id '{object_id}'.", param=param)
        self.kind = kind
        self.object_id = object_id


class ModelFailed(ThreadlineError):
    """The model's backend failed a call that a request waited for: 424 (Failed
    Dependency), type `server_error`; the fault is the model server's, said in `message`.
    Not a 5xx: Threadline did what it should (a 5xx is always Threadline's bug)."""


def invalid(message: str, param: str | None = None, code: str | None = None) -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def not_found(kind: str, object_id: str, param: str | None = None) -> NotFound:
    return NotFound(kind, object_id, param=param)
