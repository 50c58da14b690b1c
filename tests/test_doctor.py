"""`threadline doctor` checks a deployment and says how to fix what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.server import free_port


def doctor(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "threadline", "doctor", "--data-dir", str(data_dir)],
        env={**clean, "THREADLINE_EMBEDDED": "false", **env},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def migrate(data_dir: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "threadline", "db", "upgrade", "--data-dir", str(data_dir)],
        check=True, capture_output=True,
    )  # fmt: skip


def test_a_healthy_deployment(llm: ScriptedBackend, tmp_path: Path) -> None:
    llm.script("gpt-4o", always=Text("OK"))
    migrate(tmp_path)
    done = doctor(
        tmp_path,
        THREADLINE_LLM_BASE_URL=llm.base_url,
        THREADLINE_EMBEDDINGS_BASE_URL=llm.base_url,
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok   database", "ok   model backend", "ok   embeddings",
        "ok   code_interpreter sandbox", "ok   redis", "ok   disk",
        "warn last backup", "     fix",  # a warning, not a failure: none was taken
    ]  # fmt: skip
    assert "answered a one-token completion" in done.stdout


def test_what_is_wrong_and_how_to_fix_it(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    done = doctor(tmp_path, THREADLINE_LLM_BASE_URL=closed, THREADLINE_EMBEDDINGS_BASE_URL=closed)
    assert done.returncode == 1
    out = done.stdout
    assert "FAIL database: at migration None" in out
    assert "fix: run `threadline db upgrade`" in out
    assert "FAIL model backend" in out and "fix: check THREADLINE_LLM_BASE_URL" in out
    assert "FAIL embeddings" in out
