"""Object ids: OpenAI's prefixes, followed by a time-ordered body.

An id is `<prefix><9 chars: microseconds since the epoch><15 random chars>`, all in
base62 with the alphabet in ASCII order. Ids minted later sort later (bytewise), and the
creation second can be read back from an id. Lists page by (created_at, id), so a cursor
id locates its place in a list even after its object has been deleted.
"""

from __future__ import annotations

import secrets
import threading
import time

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}
_TIME_CHARS = 9
_RANDOM_CHARS = 15

ASSISTANT = "asst_"
THREAD = "thread_"
MESSAGE = "msg_"
RUN = "run_"
STEP = "step_"
CALL = "call_"
FILE = "file-"
VECTOR_STORE = "vs_"
FILE_BATCH = "vsfb_"
PROJECT = "proj_"
# The Responses and Conversations APIs. A conversation is a thread: one body under two
# prefixes (`thread_X` is `conv_X`), and a run's calls are items under theirs (`call_X` is
# the call id of the item `fc_X`, answered by the item `fco_X`): docs/architecture.md,
# "One store, two APIs".
CONVERSATION = "conv_"
FUNCTION_CALL = "fc_"
FUNCTION_CALL_OUTPUT = "fco_"
FILE_SEARCH_CALL = "fs_"
CODE_INTERPRETER_CALL = "ci_"
CONTAINER = "cntr_"
CONTAINER_FILE = "cfile_"
COMPACTION = "cmp_"
API_KEY = "key_"

_lock = threading.Lock()
_last_us = 0


def _encode(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, r = divmod(n, 62)
        chars.append(ALPHABET[r])
    return "".join(reversed(chars))


def _next_micros() -> int:
    # Strictly increasing within the process, even when the clock stalls or steps back.
    global _last_us
    with _lock:
        now = time.time_ns() // 1000
        _last_us = now if now > _last_us else _last_us + 1
        return _last_us


def random_string(length: int) -> str:
    """`length` uniformly random base62 characters, from one read of the OS's randomness
    (`secrets.choice` per character reads it once a character)."""
    space = 62**length
    # Enough random bits that the modulo's bias stays below 2**-64.
    value = int.from_bytes(secrets.token_bytes((space.bit_length() + 64 + 7) // 8))
    return _encode(value % space, length)


def mint(prefix: str) -> tuple[str, int]:
    """A new id and its `created_at` (Unix seconds), read from one clock reading."""
    micros = _next_micros()
    return prefix + _encode(micros, _TIME_CHARS) + random_string(_RANDOM_CHARS), micros // 1_000_000


def new_id(prefix: str) -> str:
    return mint(prefix)[0]


def body(object_id: str) -> str:
    """The id without its prefix."""
    return object_id.rsplit("_", 1)[-1] if "_" in object_id else object_id.split("-", 1)[-1]


def as_prefix(object_id: str, prefix: str) -> str:
    """The same body under another prefix (`thread_X` as `conv_X`)."""
    return prefix + body(object_id)


def created_at_of(object_id: str) -> int | None:
    """The creation second encoded in an id minted here; None for any other string."""
    rest = body(object_id)
    if len(rest) != _TIME_CHARS + _RANDOM_CHARS:
        return None
    micros = 0
    for c in rest[:_TIME_CHARS]:
        digit = _INDEX.get(c)
        if digit is None:
            return None
        micros = micros * 62 + digit
    return micros // 1_000_000
