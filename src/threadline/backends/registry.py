"""Which backend serves a model name: a models file (TOML or YAML) and a default backend.

    [backends.gpu]
    base_url = "http://gpu-box:8000/v1"
    api_key_env = "GPU_KEY"        # or api_key = "..."

    [[models]]
    name = "gpt-4*"                # an exact name or a glob pattern
    backend = "gpu"
    served_name = "Qwen/Qwen2.5-7B-Instruct"
    context_window = 32768

Names that no entry matches go to the default backend (`THREADLINE_LLM_BASE_URL`) under
their own name.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from threadline.backends.base import Backend
from threadline.backends.openai_http import OpenAIHTTPBackend

DEFAULT_CONTEXT_WINDOW = 16_384
DEFAULT_BACKEND = "default"


class ModelsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    backend: Backend
    served_name: str
    context_window: int


@dataclass(frozen=True)
class _Entry:
    pattern: str
    backend: str
    served_name: str | None
    context_window: int


class ModelRegistry:
    def __init__(
        self,
        backends: dict[str, Backend],
        entries: list[_Entry],
        default_context_window: int = DEFAULT_CONTEXT_WINDOW,
    ) -> None:
        self._backends = backends
        self._entries = entries
        self._default_context_window = default_context_window

    def resolve(self, model: str) -> Route | None:
        for entry in self._entries:
            if fnmatch.fnmatchcase(model, entry.pattern):
                backend = self._backends.get(entry.backend)
                if backend is None:
                    return None  # mapped to the default backend, and there is none
                return Route(backend, entry.served_name or model, entry.context_window)
        default = self._backends.get(DEFAULT_BACKEND)
        if default is None:
            return None
        return Route(default, model, self._default_context_window)

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()


def _load_file(path: Path) -> dict[str, Any]:
    text = path.read_text()
    try:
        is_toml = path.suffix.lower() == ".toml"
        data = tomllib.loads(text) if is_toml else (yaml.safe_load(text) or {})
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as error:
        raise ModelsFileError(f"{path}: {error}") from error
    if not isinstance(data, dict):
        raise ModelsFileError(f"{path}: expected a table with 'backends' and 'models'")
    return data


@dataclass(frozen=True)
class ModelsFile:
    backends: dict[str, tuple[str, str | None]]  # name -> (base_url, api key)
    entries: list[_Entry]


def read_models_file(
    path: Path, default_context_window: int = DEFAULT_CONTEXT_WINDOW
) -> ModelsFile:
    """Parse and check a models file; `ModelsFileError` says what is wrong with it."""
    data = _load_file(path)
    backends: dict[str, tuple[str, str | None]] = {}
    for name, spec in (data.get("backends") or {}).items():
        if not isinstance(spec, dict) or not spec.get("base_url"):
            raise ModelsFileError(f"{path}: backend '{name}' needs a base_url")
        key = spec.get("api_key") or os.environ.get(spec.get("api_key_env") or "", None)
        backends[name] = (spec["base_url"], key)
    entries: list[_Entry] = []
    for index, spec in enumerate(data.get("models") or []):
        if not isinstance(spec, dict) or "name" not in spec:
            raise ModelsFileError(f"{path}: models[{index}] needs a name")
        backend = spec.get("backend", DEFAULT_BACKEND)
        if backend not in backends and backend != DEFAULT_BACKEND:
            raise ModelsFileError(f"{path}: models[{index}] names unknown backend '{backend}'")
        entries.append(
            _Entry(
                pattern=str(spec["name"]),
                backend=backend,
                served_name=spec.get("served_name"),
                context_window=int(spec.get("context_window") or default_context_window),
            )
        )
    return ModelsFile(backends, entries)


def build_registry(
    base_url: str | None,
    api_key: str | None,
    models_file: Path | None,
    default_context_window: int = DEFAULT_CONTEXT_WINDOW,
    read_timeout: float = 120.0,
) -> ModelRegistry:
    backends: dict[str, Backend] = {}
    if base_url:
        backends[DEFAULT_BACKEND] = OpenAIHTTPBackend(base_url, api_key, read_timeout=read_timeout)
    entries: list[_Entry] = []
    if models_file is not None:
        parsed = read_models_file(models_file, default_context_window)
        for name, (url, key) in parsed.backends.items():
            backends[name] = OpenAIHTTPBackend(url, key, read_timeout=read_timeout)
        entries = parsed.entries
    return ModelRegistry(backends, entries, default_context_window)
