"""A newcomer's first minutes: clone the repository into an empty folder, with an empty home
(so empty pip and npm caches, no model fetched before), then the README's two commands:
`make serve` timed until `GET /v1/models` answers, and `make test` timed to its end.

    .venv/bin/python benchmarks/newcomer.py [--no-test] [--write]

What it clones is the committed HEAD. Packages come from the machine's registries as a user's
would; nothing is reused from this checkout. `--write` puts the figures in
docs/performance.md (section 11).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from common import ROOT, emit, free_port, load, machine, stamp


def clone(into: Path) -> Path:
    target = into / "threadline"
    subprocess.run(["git", "clone", "--quiet", "--no-local", str(ROOT), str(target)], check=True)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", head], check=True)
    return target


def newcomer_env(home: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("THREADLINE_", "VIRTUAL_ENV", "PIP_CACHE", "npm_config_cache"))
    }
    env.update(HOME=str(home), THREADLINE_PORT=str(port), XDG_CACHE_HOME=str(home / ".cache"))
    return env


def time_serve(repo: Path, env: dict[str, str], port: int, log: Path) -> float:
    """Seconds from `make serve` to the first answer of `GET /v1/models`."""
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "serve"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            while process.poll() is None:
                try:
                    response = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                    if response.status_code < 500:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                time.sleep(0.5)
            raise RuntimeError(f"make serve exited {process.returncode}; see {log}")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)


def time_test(repo: Path, env: dict[str, str], log: Path) -> tuple[float, int, str]:
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.run(
            ["make", "test"], cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT
        ).returncode
    summary = next(
        (line for line in reversed(log.read_text(errors="replace").splitlines()) if " in " in line),
        "",
    )
    return time.monotonic() - started, code, summary.strip("= ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-test", action="store_true", help="time `make serve` only")
    parser.add_argument("--write", action="store_true", help="write docs/performance.md")
    args = parser.parse_args()
    header = stamp()  # the load average before
    with tempfile.TemporaryDirectory(prefix="threadline-newcomer-") as scratch:
        root = Path(scratch)
        home = root / "home"
        home.mkdir()
        repo = clone(root)
        port = free_port()
        env = newcomer_env(home, port)
        serve = time_serve(repo, env, port, root / "serve.log")
        print(f"make serve answered GET /v1/models after {serve:.0f} s", flush=True)
        rows = [f"| `make serve` until `GET /v1/models` answers | {serve:.0f} s | |"]
        if not args.no_test:
            seconds, code, summary = time_test(repo, env, root / "test.log")
            print(f"make test: {seconds:.0f} s, exit {code}: {summary}", flush=True)
            rows.append(f"| `make test` (after `make serve`) | {seconds:.0f} s | {summary} |")
        markdown = (
            "## 11. A newcomer's first minutes: `make serve`, then `make test`\n\n"
            f"{header}\n\n{machine()}; load average after: {load()}.\n"
            "A fresh clone in an empty folder, with an empty home (empty pip and npm caches,\n"
            "no model fetched before), the README's commands in turn:\n\n"
            "| step | time | result |\n|---|---|---|\n" + "\n".join(rows) + "\n"
        )
        emit("newcomer", markdown, args.write)


if __name__ == "__main__":
    main()
