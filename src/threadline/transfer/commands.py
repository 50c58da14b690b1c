"""The `export` and `import` commands: move one project between deployments as a folder of
the API's own objects (docs/operations.md, "Move a project")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from threadline.config import Settings
from threadline.db import migrate
from threadline.errors import QuotaExceeded
from threadline.files.storage import FileStorage
from threadline.key_commands import with_db
from threadline.projects.service import DEFAULT_PROJECT
from threadline.store_options import store_options
from threadline.transfer import export, folder, importer

NAMES = ("export", "import")


def add(commands: Any) -> None:
    out = commands.add_parser(
        "export",
        help="write a project's objects to a folder (JSON Lines of the API's objects)",
        description="Write project NAME's files (and their bytes), vector stores and their "
        "files, assistants, threads, messages, runs and run steps to DIR, as the API returns "
        "them; `threadline import` loads the folder into another deployment.",
    )
    out.add_argument("--project", required=True, metavar="NAME", help="the project to export")
    out.add_argument("dir", type=Path, metavar="DIR", help="the folder to write (created)")
    store_options(out, files_dir=True)

    into = commands.add_parser(
        "import",
        help="load a folder written by `threadline export` (or an API listing) into a project",
        description="Load DIR into a project, keeping every id. Refused, with nothing "
        "written, when any id exists in this deployment already. Vector store files are "
        "ingested again by the server (its own embedder).",
    )
    into.add_argument("dir", type=Path, metavar="DIR", help="the folder to read")
    into.add_argument(
        "--project",
        metavar="NAME",
        help="the project to load into (created if new); default: the exported project's "
        f"name, or {DEFAULT_PROJECT!r}",
    )
    store_options(into, files_dir=True)


def _fail(message: str) -> int:
    print(f"threadline: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.resolved_database_url)
    storage = FileStorage(settings.resolved_files_dir)
    if args.command == "export":
        try:
            done = with_db(
                settings,
                lambda db: export.export_project(
                    db,
                    storage,
                    args.project,
                    args.dir,
                    source=settings.resolved_database_url.split("@")[
                        -1
                    ],  # no password in the manifest
                ),
            )
        except export.UnknownProject as error:
            return _fail(str(error))
        counts = ", ".join(f"{count} {kind}" for kind, count in done.counts.items())
        print(f"Exported project {args.project} to {args.dir}: {counts}.")
        if done.missing_bytes:
            print(
                f"threadline: the bytes of {len(done.missing_bytes)} file(s) were missing "
                f"and are not in the folder: {', '.join(done.missing_bytes[:10])}",
                file=sys.stderr,
            )
        return 0
    project = args.project or folder.source_project(args.dir) or DEFAULT_PROJECT
    try:
        result = with_db(
            settings, lambda db: importer.import_folder(db, storage, args.dir, project)
        )
    except importer.Clash as error:
        return _fail(f"cannot import {args.dir}: {error}")
    except (folder.BadFolder, QuotaExceeded) as error:
        return _fail(f"cannot import {args.dir}: {error} Nothing was imported.")
    counts = ", ".join(f"{count} {kind}" for kind, count in result.counts.items())
    print(f"Imported {args.dir} into project {project}: {counts}.")
    if result.counts.get("vector_store_files"):
        print("Vector store files are being ingested by the server (in_progress until done).")
    for line in result.notes:
        print(f"note: {line}")
    if result.skipped:
        print(f"Skipped {len(result.skipped)} object(s) whose referenced objects are missing:")
        for line in result.skipped[:50]:
            print(f"  {line}")
        if len(result.skipped) > 50:
            print(f"  ... and {len(result.skipped) - 50} more")
    return 0
