"""Why a file could not be turned into text.

The codes are the two that OpenAI allows in `VectorStoreFile.last_error`: "unsupported_file"
for formats that cannot be searched (images, archives, executables) and "invalid_file" for
files that claim a supported format but are empty, damaged or hold no text.
"""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal["unsupported_file", "invalid_file"]


class ParseError(Exception):
    """Why a file could not be turned into text; `message` is meant for the API's user."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


def reason(exc: BaseException) -> str:
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return detail if len(detail) <= 200 else detail[:197] + "..."
