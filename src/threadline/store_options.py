"""The command-line options that name a deployment's store, shared by every command that
opens it (`cli.py` and the command modules it loads). Imports nothing of Threadline, so any
package's command may use it."""

from __future__ import annotations

import argparse
from pathlib import Path


def store_options(parser: argparse.ArgumentParser, files_dir: bool = False) -> None:
    """`--database-url` and `--data-dir`; with `files_dir`, `--files-dir` too."""
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (sqlite+aiosqlite:///... or postgresql+asyncpg://...); "
        "env THREADLINE_DATABASE_URL; default: SQLite in the data dir",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="env THREADLINE_DATA_DIR; default ~/.local/share/threadline",
    )
    if files_dir:
        parser.add_argument(
            "--files-dir", type=Path, help="env THREADLINE_FILES_DIR; default <data dir>/files"
        )
