"""A backup's `manifest.json`: version, schema revision, time, row counts, file count and
bytes; written whole (temporary name, then rename), read back and checked by restore."""

from __future__ import annotations

import json
import os
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from threadline.db.backup.errors import Refused

MANIFEST = "manifest.json"
FORMAT = 1


def read_manifest(directory: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError as error:
        raise Refused(f"{directory} is not a Threadline backup: no {MANIFEST}") from error
    except ValueError as error:
        raise Refused(f"{directory / MANIFEST} is not JSON: {error}") from error
    if manifest.get("format") != FORMAT:
        raise Refused(f"{directory / MANIFEST}: unknown format {manifest.get('format')!r}")
    database = directory / manifest["database_file"]
    if not database.is_file():
        raise Refused(f"the backup's database {database} is missing")
    return manifest


def threadline_version() -> str:
    try:
        return version("threadline")
    except PackageNotFoundError:
        return "unknown"


def write_json(path: Path, value: Any) -> None:
    """Written to a temporary name and renamed: readers (doctor, restore) never see half a
    file, and two backups at once leave one whole record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.tmp-")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(value, out, indent=2)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
