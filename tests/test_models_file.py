"""The models file routes model names to backends, under the names those backends serve."""

from __future__ import annotations

from pathlib import Path

from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import ScriptedBackend, Text


def complete(client: OpenAI, model: str):
    assistant = client.beta.assistants.create(model=model)
    return client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]}
    )


def test_toml_models_file(spawn: ServerFactory, llm: ScriptedBackend, tmp_path: Path) -> None:
    served = llm.model(always=Text("from the team backend"))
    models = tmp_path / "models.toml"
    models.write_text(
        f"""
[backends.team]
base_url = "{llm.base_url}"
api_key_env = "TEAM_KEY"

[[models]]
name = "team-*"
backend = "team"
served_name = "{served}"
context_window = 8192
"""
    )
    server = spawn({"TEAM_KEY": "secret"}, with_llm=False, extra_args=["--models", str(models)])
    with make_client(server, "local") as client:
        run = complete(client, "team-alpha")
        assert run.status == "completed" and run.model == "team-alpha"
        assert len(llm.received(served)) == 1
        # A name no entry matches, with no default backend, has nowhere to go.
        run = complete(client, "gpt-4o")
        assert run.status == "failed"
        assert "No backend serves the model 'gpt-4o'" in run.last_error.message


def test_yaml_models_file_and_default_backend(
    spawn: ServerFactory, llm: ScriptedBackend, tmp_path: Path
) -> None:
    served = llm.model(always=Text("mapped"))
    direct = llm.model(always=Text("direct"))
    models = tmp_path / "models.yaml"
    models.write_text(f"models:\n  - name: gpt-4o\n    served_name: {served}\n")
    server = spawn(extra_args=["--models", str(models)])
    with make_client(server, "local") as client:
        assert complete(client, "gpt-4o").status == "completed"
        assert len(llm.received(served)) == 1
        # Other names go to THREADLINE_LLM_BASE_URL under their own name.
        assert complete(client, direct).status == "completed"
        assert len(llm.received(direct)) == 1


def test_a_bad_models_file_stops_the_server_at_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    models = tmp_path / "models.toml"
    models.write_text('[[models]]\nname = "x"\nbackend = "nowhere"\n')
    result = subprocess.run(
        [sys.executable, "-m", "threadline", "serve", "--data-dir", str(tmp_path),
         "--models", str(models)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown backend 'nowhere'" in result.stderr
