"""`threadline backup DIR` and `threadline restore DIR`: their command line (`NAMES`,
`add`, `run`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from threadline.config import Settings
from threadline.db.backup.errors import Refused
from threadline.db.backup.restore import restore
from threadline.db.backup.snapshot import backup
from threadline.store_options import store_options

NAMES = ("backup", "restore")


def add(commands: Any) -> None:
    backup = commands.add_parser(
        "backup",
        help="write a consistent snapshot of the database and file bytes into DIR, "
        "while the server serves",
    )
    restore = commands.add_parser(
        "restore", help="restore a backup from DIR into an empty store (database and files dir)"
    )
    for parser, what in ((backup, "new or empty directory"), (restore, "a backup's directory")):
        parser.add_argument("dir", type=Path, metavar="DIR", help=what)
        store_options(parser, files_dir=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "backup":
            manifest = asyncio.run(backup(settings, args.dir))
            files = manifest["files"]
            print(
                f"threadline: backed up {sum(manifest['tables'].values())} rows and "
                f"{files['count']} files ({files['bytes']} bytes) into {args.dir}"
            )
            for file_id in manifest["missing_files"]:
                print(f"threadline: file {file_id} was deleted during the backup", file=sys.stderr)
            return 0
        return asyncio.run(restore(settings, args.dir))
    except Refused as error:
        print(f"threadline: {error}", file=sys.stderr)
        return 2
