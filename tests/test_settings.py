"""Settings are checked at start: a misspelled variable is refused with the closest name,
and every way of serving refuses a non-loopback address while no API key exists."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import ScriptedBackend, Text
from tests.support.server import free_port


def serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "threadline", "serve", *args],
        env={**clean, "THREADLINE_EMBEDDED": "false", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_misspelled_variable_is_refused(tmp_path: Path) -> None:
    done = serve({"THREADLINE_LLM_BASEURL": "http://x"}, "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "threadline: unknown setting THREADLINE_LLM_BASEURL; did you mean THREADLINE_LLM_BASE_URL?"
    )


def test_a_bad_value_is_refused_in_a_line(tmp_path: Path) -> None:
    done = serve({"THREADLINE_PORT": "eighty"}, "--data-dir", str(tmp_path))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("threadline: THREADLINE_PORT:") and "'eighty'" in line


def test_serving_the_app_directly_refuses_an_open_door(tmp_path: Path) -> None:
    # Migrated first, as an operator would; then uvicorn straight on the factory.
    env = {"THREADLINE_DATA_DIR": str(tmp_path), "THREADLINE_HOST": "0.0.0.0"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    subprocess.run(
        [sys.executable, "-m", "threadline", "db", "upgrade", "--data-dir", str(tmp_path)],
        env={**clean, **env}, check=True, capture_output=True,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "threadline.app:create_app",
         "--host", "127.0.0.1", "--port", str(free_port())],
        env={**clean, "THREADLINE_EMBEDDED": "false", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "refusing to serve 0.0.0.0 with no API keys" in done.stderr


def test_the_readme_table_is_the_settings() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("<!-- settings -->\n", 1)[1].split("\n<!-- /settings -->", 1)[0]
    done = subprocess.run(
        [sys.executable, "-m", "threadline", "settings"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert table.strip() == done.stdout.strip(), "run `threadline settings` into README.md"


def test_a_limit_that_was_a_constant(spawn: ServerFactory, llm: ScriptedBackend) -> None:
    server = spawn({"THREADLINE_RUN_EXPIRY_SECONDS": "42"})
    model = llm.model(always=Text("x"))
    with make_client(server, "local") as client:
        assistant = client.beta.assistants.create(model=model)
        run = client.beta.threads.create_and_run(assistant_id=assistant.id)
        assert run.expires_at == run.created_at + 42
