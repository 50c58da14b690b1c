"""`GET /v1/models` and `GET /v1/models/{model}`: the names this server answers to, parsed
strictly by the official SDK."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.conftest import ServerFactory, make_client
from tests.support.scripted_backend import ScriptedBackend, Text


def test_the_backends_own_list(client: OpenAI, llm: ScriptedBackend) -> None:
    served = llm.model(always=Text("x"))
    listed = client.models.list()
    ids = [model.id for model in listed.data]
    assert served in ids
    model = next(model for model in listed.data if model.id == served)
    assert model.object == "model" and model.owned_by == "scripted" and model.created == 1
    assert client.models.retrieve(served).id == served
    # Every other name reaches the same backend under its own name.
    other = client.models.retrieve("gpt-4o")
    assert other.id == "gpt-4o" and other.owned_by == "default"


def test_a_models_file_lists_its_names(
    spawn: ServerFactory, llm: ScriptedBackend, tmp_path: Path
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        f"""
[backends.team]
base_url = "{llm.base_url}"

[[models]]
name = "team-*"
backend = "team"

[[models]]
name = "gpt-4o"
backend = "team"
"""
    )
    server = spawn(with_llm=False, extra_args=["--models", str(models)])
    with make_client(server, "local") as client:
        assert [m.id for m in client.models.list().data] == ["team-*", "gpt-4o"]
        matched = client.models.retrieve("team-alpha")
        assert matched.id == "team-alpha" and matched.owned_by == "team"
        # No default backend: a name that no entry serves does not exist here.
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve("claude")
        assert "No model found with id 'claude'" in str(missing.value)
