"""What text both stores can keep: no NUL character (PostgreSQL's text cannot hold it) and
no lone surrogate (it has no UTF-8 form: SQLite would store a row that no read decodes)."""

from __future__ import annotations

import re

from threadline.errors import InvalidRequest

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


def problem(text: str) -> str | None:
    """What makes `text` unstorable, or None."""
    found = _BAD_TEXT.search(text)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone surrogate"


def check_text(value: str, param: str) -> None:
    """Raise the API's 400 when `value` cannot be stored."""
    what = problem(value)
    if what is not None:
        raise InvalidRequest(message(param, what), param=param)


def message(param: str, what: str) -> str:
    return f"Invalid '{param}': the string contains {what}, which cannot be stored."
