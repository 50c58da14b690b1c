"""`threadline store copy`: the command line of `threadline.store_copy.copy`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from threadline.config import Settings
from threadline.store_copy.copy import CopyRefused, copy_store, default_target_files
from threadline.store_copy.verify import CopyMismatch

NAMES = ("store",)

DESCRIPTION = """\
Copy a whole deployment (every table, the file bytes, the search indexes with their
embeddings as they are) from one database to another, e.g. from SQLite to PostgreSQL.

The source is only read, in one transaction, and held read-only until the copy commits:
a server still serving it answers reads and its writes wait (on SQLite, a write that
waits longer than THREADLINE_SQLITE_BUSY_TIMEOUT_MS, 30 s, is answered 503, which the SDKs
retry), so nothing written during the copy is left behind. Stop the server first to copy
without holding its writes; or pass --snapshot to let it keep writing and copy the
consistent snapshot the transaction sees, leaving later writes behind. The last line says
which it was.

The target is migrated to the current schema and must hold no rows; everything is
committed in one transaction at the end, after the file bytes are in place, so an
interrupted copy leaves the target empty and running it again starts over. (Killed after
the commit, while verifying: a rerun finds the target holding what the source holds and
verifies it again.) The copy ends by reading the target back and comparing rows,
checksums and file bytes.
Exit status: 0 copied and verified, 1 the verification failed, 2 refused (nothing written).
"""


def add(commands: Any) -> None:
    store = commands.add_parser("store", help="copy a deployment to another database")
    store_commands = store.add_subparsers(dest="store_command", required=True)
    copy = store_commands.add_parser(
        "copy",
        help="copy every table, file and index to an empty database (SQLite to PostgreSQL)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="the source's SQLAlchemy URL; default: THREADLINE_DATABASE_URL or the SQLite "
        "database in the data dir",
    )
    copy.add_argument(
        "--to", dest="target", metavar="URL", required=True, help="the target's SQLAlchemy URL"
    )
    copy.add_argument(
        "--from-files",
        type=Path,
        metavar="DIR",
        help="the source's files directory; default: THREADLINE_FILES_DIR or <data dir>/files",
    )
    copy.add_argument(
        "--to-files",
        type=Path,
        metavar="DIR",
        help="the target's files directory; default: for a SQLite target, files/ beside its "
        "database; for PostgreSQL, the source's (the bytes stay where they are, checked)",
    )
    copy.add_argument(
        "--data-dir",
        type=Path,
        help="env THREADLINE_DATA_DIR; default ~/.local/share/threadline",
    )
    copy.add_argument(
        "--snapshot",
        action="store_true",
        help="do not hold the source's writes: copy a consistent snapshot of it and leave "
        "what a server writes during the copy behind",
    )
    copy.add_argument(
        "--batch", type=int, default=1000, metavar="N", help="rows per batch (default 1000)"
    )


def _say(line: str) -> None:
    print(f"threadline: {line}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    source = args.source or settings.resolved_database_url
    source_files = args.from_files or settings.resolved_files_dir
    target_files = args.to_files or default_target_files(args.target, source_files)
    _say(f"copying {source} ({source_files}) to {args.target} ({target_files})")
    try:
        summary = copy_store(
            source, args.target, source_files, target_files, _say, args.batch, args.snapshot
        )
    except CopyRefused as error:
        _say(f"refused: {error}")
        return 2
    except CopyMismatch as error:
        _say(f"the copy differs from the source: {error}")
        return 1
    print(f"threadline: {summary.line()}", flush=True)
    return 0
