"""`threadline model list / pull` and `serve --model`: the catalogue of packaged models."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from threadline.backends import packaged_model
from threadline.config import Settings

DEFAULT = Settings.model_fields["model"].default


def threadline(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THREADLINE_")}
    return subprocess.run(
        [sys.executable, "-m", "threadline", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_list_shows_every_packaged_model(tmp_path: Path) -> None:
    done = threadline("model", "list", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = {line.split("|")[1].strip(): line for line in done.stdout.splitlines()[2:]}
    assert set(rows) == {
        f"{name} (default)" if name == DEFAULT else name for name in packaged_model.CATALOGUE
    }
    for model in packaged_model.CATALOGUE.values():
        row = next(line for name, line in rows.items() if name.startswith(model.name))
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert cells[1] == f"{model.size / 10**6:.0f} MB"
        assert cells[4] == "Apache-2.0" and cells[5] == "-"  # nothing pulled into tmp_path
    # THREADLINE_MODEL marks the one chosen.
    other = next(name for name in packaged_model.CATALOGUE if name != DEFAULT)
    chosen = threadline(
        "model", "list", "--data-dir", str(tmp_path), env={"THREADLINE_MODEL": other}
    )
    assert f"| {other} (chosen) |" in chosen.stdout


def test_an_unknown_model_is_refused_in_a_line(tmp_path: Path) -> None:
    expected = "threadline: unknown model 'gpt-5-local'; the packaged models are: " + ", ".join(
        packaged_model.CATALOGUE
    )
    pull = threadline("model", "pull", "gpt-5-local", "--data-dir", str(tmp_path))
    assert (pull.returncode, pull.stderr.strip()) == (2, expected)
    serve = threadline("serve", "--model", "gpt-5-local", "--data-dir", str(tmp_path))
    (line,) = serve.stderr.strip().splitlines()
    assert serve.returncode == 2 and line.endswith(expected.removeprefix("threadline: "))
    assert not (tmp_path / "models").exists()


def test_pulling_the_present_default_verifies_it_without_downloading(
    model_file: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    models.mkdir()
    for path in (model_file, model_file.with_name(model_file.name + ".verified")):
        (models / path.name).symlink_to(path)
    done = threadline("model", "pull", "--data-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "downloading" not in done.stdout
    assert f"model ready (verified, not downloaded again): {models / model_file.name}" in (
        done.stdout
    )
    listed = threadline("model", "list", "--data-dir", str(tmp_path))
    assert f"| {DEFAULT} (default) |" in listed.stdout
    assert next(line for line in listed.stdout.splitlines() if DEFAULT in line).endswith(
        "| pulled |"
    )
