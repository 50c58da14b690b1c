"""The file bytes of a backup (`files/`): copied out of a files directory and back into
one."""

from __future__ import annotations

import shutil
from pathlib import Path

FILES = "files"


def copy_files(source: Path, target: Path) -> tuple[int, int]:
    target.mkdir(parents=True, exist_ok=True)
    count = size = 0
    if not source.is_dir():
        return 0, 0
    for path in sorted(source.iterdir()):
        # `.upload-*` are uploads still being written (they become an id by rename).
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            shutil.copy2(path, target / path.name)
        except FileNotFoundError:
            continue  # deleted since it was listed; see `missing_files`
        count += 1
        size += (target / path.name).stat().st_size
    return count, size
