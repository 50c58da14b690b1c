"""Running the npm SDK scripts of tests/node against a server."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.support.server import Server

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "node"
SDK_VERSION = "7.57.0"


def run_script(script: str, server: Server, env: dict[str, str], timeout: float = 180) -> str:
    """Run `tests/node/<script>`; its stdout once it has passed every check. Node and the
    pinned SDK are required: their absence fails the test, never skips it."""
    node = shutil.which("node")
    assert node, "node is not installed: the npm SDK flows need Node.js on PATH"
    package = NODE_DIR / "node_modules" / "openai" / "package.json"
    assert package.exists(), f"{package} is missing: run `npm ci` in {NODE_DIR} (or `make test`)"
    assert f'"version": "{SDK_VERSION}"' in package.read_text(), (
        f"tests/node/node_modules holds another openai version than {SDK_VERSION}: run `npm ci`"
    )
    full_env = {**os.environ, "THREADLINE_BASE_URL": server.base_url, **env}
    # The SDK must talk to our server only: no key, base URL or proxy from outside.
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_LOG", "NODE_USE_ENV_PROXY"):
        full_env.pop(name, None)
    result = subprocess.run(
        [node, str(NODE_DIR / script)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"node tests/node/{script} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}\n"
        f"--- server log\n{server.log()[-5000:]}"
    )
    assert "all checks passed" in result.stdout, result.stdout
    return result.stdout
