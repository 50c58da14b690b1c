"""Where file bytes live: one file per object id under the files directory.

Paths are built from server-minted ids only, never from anything a client sends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


class FileStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, file_id: str) -> Path:
        return self.root / file_id

    def save(self, file_id: str, source: BinaryIO) -> int:
        """Copy `source` to the object's path atomically; the number of bytes written."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
                size = out.tell()
            os.replace(tmp, self.path(file_id))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def delete(self, file_id: str) -> None:
        self.path(file_id).unlink(missing_ok=True)
