"""The `keys` and `projects` commands: keys and their rate limits, projects and their limits
and usage, and the parsing of counts and sizes their options take."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from threadline.config import Settings

# Imported for what it registers: container files count in a project's stored bytes.
from threadline.containers import file_bytes as _container_bytes  # noqa: F401
from threadline.db import migrate
from threadline.db.engine import Database
from threadline.files import service as files
from threadline.projects import service as projects
from threadline.vector_stores import service as vector_stores

T = TypeVar("T")


class Off:
    """`off` on the command line: remove the limit."""


OFF = Off()


def count(least: int, allow_off: bool = True) -> Callable[[str], int | Off]:
    def parse(text: str) -> int | Off:
        if allow_off and text.lower() in ("off", "none"):
            return OFF
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}: {text!r}")
        return value

    return parse


_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def size(text: str) -> int | Off:
    if text.lower() in ("off", "none"):
        return OFF
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1048576, 512M, 10G)")
    return int(float(found[1]) * _UNITS[found[2]])


def rate_options(parser: argparse.ArgumentParser, whose: str, allow_off: bool = True) -> None:
    off = ", or off" if allow_off else ""
    parser.add_argument(
        "--rpm",
        type=count(1, allow_off),
        metavar="N",
        help=f"{whose} limit of requests per minute{off}",
    )
    parser.add_argument(
        "--tpm",
        type=count(1, allow_off),
        metavar="N",
        help=f"{whose} limit of tokens per minute (what runs use){off}",
    )


def with_db(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database(settings.resolved_database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _rates(rpm: int | None, tpm: int | None) -> str:
    parts = [f"{rpm} rpm" if rpm is not None else "", f"{tpm} tpm" if tpm is not None else ""]
    return ", ".join(part for part in parts if part) or "-"


def _changes(args: argparse.Namespace, names: dict[str, str]) -> dict[str, int | None]:
    """The limits given on the command line: {limit: value, or None to remove it}."""
    changes: dict[str, int | None] = {}
    for flag, limit in names.items():
        value = getattr(args, flag)
        if value is not None:
            changes[limit] = None if value is OFF else value
    return changes


_RATE_FLAGS = {"rpm": "requests_per_minute", "tpm": "tokens_per_minute"}


def keys_command(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.resolved_database_url)
    if args.keys_command == "create":
        info, secret = with_db(
            settings, lambda db: projects.create_key(db, args.project, args.rpm, args.tpm)
        )
        own = _rates(info.requests_per_minute, info.tokens_per_minute)
        limits = f" with limits of its own ({own})" if own != "-" else ""
        print(f"Created key {info.id} for project '{info.project}'{limits}. It is shown only once:")
        print(secret)
        return 0
    if args.keys_command == "list":
        rows: list[Any] = with_db(settings, projects.list_keys)
        print(f"{'ID':<34} {'PROJECT':<20} {'KEY':<20} {'CREATED':<20} {'LIMITS':<24} REVOKED")
        for key in rows:
            print(
                f"{key.id:<34} {key.project:<20} {key.redacted:<20} "
                f"{_when(key.created_at):<20} "
                f"{_rates(key.requests_per_minute, key.tokens_per_minute):<24} "
                f"{_when(key.revoked_at)}"
            )
        return 0
    if args.keys_command == "limits":
        changes = _changes(args, _RATE_FLAGS)
        if changes:
            found = with_db(settings, lambda db: projects.set_key_limits(db, args.key_id, changes))
        else:
            keys = with_db(settings, projects.list_keys)
            found = next((key for key in keys if key.id == args.key_id), None)
        if found is None:
            print(f"threadline: no key with id '{args.key_id}'.", file=sys.stderr)
            return 1
        print(f"Key {found.id} of project '{found.project}'")
        print(f"  requests per minute  {_limit(found.requests_per_minute)}")
        print(f"  tokens per minute    {_limit(found.tokens_per_minute)}")
        print("  (the project's limits bind it too: threadline projects limits NAME)")
        return 0
    if with_db(settings, lambda db: projects.revoke_key(db, args.key_id)):
        print(f"Revoked key {args.key_id}.")
        return 0
    print(f"threadline: no key with id '{args.key_id}'.", file=sys.stderr)
    return 1


def _limit(value: int | None, unit: str = "") -> str:
    return "off" if value is None else f"{value}{unit}"


def _bytes(value: int) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value} bytes ({value / size:.1f} {unit})"
    return f"{value} bytes"


async def _usage(db: Database, project_id: str) -> tuple[int, int]:
    async with db.read() as session:
        used = await files.bytes_used(session, project_id)
        stores = await vector_stores.store_count(session, project_id)
    return used, stores


_PROJECT_FLAGS = {
    **_RATE_FLAGS,
    "max_file_bytes": "max_file_bytes",
    "max_vector_stores": "max_vector_stores",
}


def projects_command(args: argparse.Namespace, settings: Settings) -> int:
    migrate.upgrade(settings.resolved_database_url)
    if args.projects_command == "list":
        rows = with_db(settings, projects.list_projects)
        print(f"{'NAME':<20} {'ID':<34} {'RPM':<10} {'TPM':<12} {'MAX FILE BYTES':<16} "
              "MAX VECTOR STORES")  # fmt: skip
        for name, project_id, limits in rows:
            print(
                f"{name:<20} {project_id:<34} {_limit(limits.requests_per_minute):<10} "
                f"{_limit(limits.tokens_per_minute):<12} {_limit(limits.max_file_bytes):<16} "
                f"{_limit(limits.max_vector_stores)}"
            )
        return 0
    changes = _changes(args, _PROJECT_FLAGS)

    async def work(db: Database) -> tuple[str, projects.ProjectLimits, tuple[int, int]] | None:
        if changes:
            project_id, limits = await projects.set_project_limits(db, args.name, changes)
        else:
            found = await projects.project_limits(db, args.name)
            if found is None:
                return None
            project_id, limits = found
        return project_id, limits, await _usage(db, project_id)

    result = with_db(settings, work)
    if result is None:
        print(f"threadline: no project named '{args.name}'.", file=sys.stderr)
        return 1
    project_id, limits, (used, stores) = result
    files_limit = "off" if limits.max_file_bytes is None else _bytes(limits.max_file_bytes)
    print(f"Project '{args.name}' ({project_id})")
    print(f"  requests per minute  {_limit(limits.requests_per_minute)}")
    print(f"  tokens per minute    {_limit(limits.tokens_per_minute)}")
    print(f"  max file bytes       {files_limit}; {_bytes(used)} used")
    print(f"  max vector stores    {_limit(limits.max_vector_stores)}; {stores} used")
    return 0
