"""Where a container's files sit: `/mnt/data/<name>`, one file per path.

A file added through the API is named as code_interpreter names the files it is given (one
function, `safe_name`: a file gets the same name in /mnt/data whichever API put it there):
its filename's last path part, made safe, and made unique with its id when another file of
the container has that name. A file
the code wrote keeps the path it was written at, folders included.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import PurePosixPath

from threadline.errors import invalid

DATA_DIR = "/mnt/data"
NAME_BYTES = 255  # the longest name a Linux file system takes
# A path the code wrote may have folders; bounded so that the unique index can hold it.
PATH_BYTES = 1024


def path_of(name: str) -> str:
    return f"{DATA_DIR}/{name}"


def _shorten(text: str, room: int) -> str:
    """`text` cut to at most `room` bytes of UTF-8, on a character boundary."""
    return text.encode()[:room].decode(errors="ignore")


def _clean(part: str) -> str:
    """Control characters and what UTF-8 cannot encode replaced by `_`; outer spaces cut."""
    return "".join(
        "_" if unicodedata.category(char) in ("Cc", "Cs") else char for char in part
    ).strip()


def safe_name(filename: str, file_id: str, taken: set[str]) -> str:
    """The name a file gets in /mnt/data, given the names taken there: its filename's last
    path part (after `/` or `\\`), with control characters and what UTF-8 cannot encode
    replaced by `_` and the surrounding spaces stripped; the file id where nothing is left or
    only dots (`.`, `..`); cut to 255 bytes keeping the extension; and `<stem>-<file
    id><extension>` when the name is taken (then with `-2`, `-3`... if that is taken too).
    code_interpreter names the files it is given by the same rules."""
    name = _clean(filename.replace("\\", "/").rsplit("/", 1)[-1])
    if not name.strip("."):
        name = file_id
    stem, extension = os.path.splitext(name)
    if len(extension.encode()) > 32:
        stem, extension = name, ""
    if len(name.encode()) > NAME_BYTES:
        name = _shorten(stem, NAME_BYTES - len(extension.encode())) + extension
    stem, extension = os.path.splitext(name)
    number = 1
    while name in taken:  # a second time only where a file is named like this one's id
        suffix = f"-{file_id}{'' if number == 1 else f'-{number}'}{extension}"
        name = _shorten(stem, NAME_BYTES - len(suffix.encode())) + suffix
        number += 1
    return name


def upload_path(filename: str, file_id: str, taken: set[str]) -> str:
    """The path of a file added under `filename`, given the paths the container has."""
    prefix = DATA_DIR + "/"
    names = {path.removeprefix(prefix) for path in taken if path.startswith(prefix)}
    return path_of(safe_name(filename, file_id, names))


def written_path(name: str) -> str:
    """The path of a file the code wrote at `name` (relative to /mnt/data, or the full
    path), each part cleaned as above; 400 for a name that leaves /mnt/data or is empty."""
    relative = name.removeprefix(DATA_DIR + "/")
    parts = [_clean(part) for part in PurePosixPath(relative).parts]
    if not parts or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise invalid(f"Invalid file name {name!r}: it must be a path under {DATA_DIR}.")
    path = path_of("/".join(parts))
    if len(path.encode()) > PATH_BYTES:
        raise invalid(f"Invalid file name: the path is longer than {PATH_BYTES} bytes.")
    return path
