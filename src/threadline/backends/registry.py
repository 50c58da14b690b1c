"""Which backend serves a model name: a models file (TOML or YAML) and a default backend.

    [backends.gpu]
    base_url = "http://gpu-box:8000/v1"
    api_key_env = "GPU_KEY"        # or api_key = "..."

    [backends.local]
    kind = "embedded"              # a GGUF file run in-process
    model_path = "/models/qwen2.5-1.5b-instruct-q4_k_m.gguf"
    context_window = 8192

    [[models]]
    name = "gpt-4*"                # an exact name or a glob pattern
    backend = "gpu"
    served_name = "Qwen/Qwen2.5-7B-Instruct"
    context_window = 32768

Names that no entry matches go to the default backend under their own name: the
OpenAI-compatible server at `THREADLINE_LLM_BASE_URL` when one is set, otherwise the
embedded model. Embedded backends need the `local` extra; `require_embedded` says, before
the server starts, when one is asked for without it.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from threadline.backends.base import Backend
from threadline.backends.embedded import (
    OR_SERVER,
    EmbeddedBackend,
    MissingExtra,
    runtime_problem,
)
from threadline.backends.openai_http import OpenAIHTTPBackend
from threadline.backends.packaged_model import ModelUnavailable, embedded_model_path
from threadline.config import Settings

log = logging.getLogger("threadline")

DEFAULT_BACKEND = "default"


class ModelsFileError(ValueError):
    pass


@dataclass(frozen=True)
class Route:
    backend: Backend
    served_name: str
    context_window: int
    backend_name: str = DEFAULT_BACKEND


@dataclass(frozen=True)
class BackendSpec:
    kind: str  # "openai" or "embedded"
    base_url: str | None = None
    api_key: str | None = None
    model_path: Path | None = None
    context_window: int | None = None


@dataclass(frozen=True)
class _Entry:
    pattern: str
    backend: str
    served_name: str | None
    context_window: int | None


@dataclass(frozen=True)
class ModelsFile:
    backends: dict[str, BackendSpec]
    entries: list[_Entry]


class ModelRegistry:
    def __init__(self, backends: dict[str, tuple[Backend, int]], entries: list[_Entry]) -> None:
        self._backends = backends  # name -> (backend, its context window)
        self._entries = entries

    def resolve(self, model: str) -> Route | None:
        for entry in self._entries:
            if fnmatch.fnmatchcase(model, entry.pattern):
                found = self._backends.get(entry.backend)
                if found is None:
                    return None  # mapped to the default backend, and there is none
                backend, window = found
                return Route(
                    backend,
                    entry.served_name or model,
                    entry.context_window or window,
                    entry.backend,
                )
        default = self._backends.get(DEFAULT_BACKEND)
        if default is None:
            return None
        return Route(default[0], model, default[1])

    async def check(self) -> list[str]:
        """What keeps the backends from answering, one line each; empty when they all do."""
        problems = []
        if not self._backends:
            problems.append("no model backend is configured")
        for name, (backend, _) in self._backends.items():
            problem = await backend.health()
            if problem:
                problems.append(f"{name}: {problem}")
        return problems

    def backend_name(self, model: str) -> str | None:
        """The name of the backend that serves `model` (`default` for the default one)."""
        for entry in self._entries:
            if fnmatch.fnmatchcase(model, entry.pattern):
                return entry.backend if entry.backend in self._backends else None
        return DEFAULT_BACKEND if DEFAULT_BACKEND in self._backends else None

    async def aclose(self) -> None:
        for backend, _ in self._backends.values():
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


def _backend_spec(path: Path, name: str, spec: Any) -> BackendSpec:
    if not isinstance(spec, dict):
        raise ModelsFileError(f"{path}: backend '{name}' must be a table")
    kind = spec.get("kind", "openai")
    window = int(spec["context_window"]) if spec.get("context_window") else None
    if kind == "embedded":
        if not spec.get("model_path"):
            raise ModelsFileError(f"{path}: embedded backend '{name}' needs a model_path")
        model = Path(spec["model_path"]).expanduser()
        if not model.is_file():
            raise ModelsFileError(f"{path}: backend '{name}': no model file at {model}")
        return BackendSpec("embedded", model_path=model, context_window=window)
    if kind != "openai":
        raise ModelsFileError(f"{path}: backend '{name}' has unknown kind '{kind}'")
    if not spec.get("base_url"):
        raise ModelsFileError(f"{path}: backend '{name}' needs a base_url")
    key = spec.get("api_key") or os.environ.get(spec.get("api_key_env") or "", None)
    return BackendSpec("openai", base_url=spec["base_url"], api_key=key, context_window=window)


def read_models_file(path: Path) -> ModelsFile:
    """Parse and check a models file; `ModelsFileError` says what is wrong with it."""
    data = _load_file(path)
    backends = {
        name: _backend_spec(path, name, spec) for name, spec in (data.get("backends") or {}).items()
    }
    entries: list[_Entry] = []
    for index, spec in enumerate(data.get("models") or []):
        if not isinstance(spec, dict) or "name" not in spec:
            raise ModelsFileError(f"{path}: models[{index}] needs a name")
        backend = spec.get("backend", DEFAULT_BACKEND)
        if backend not in backends and backend != DEFAULT_BACKEND:
            raise ModelsFileError(f"{path}: models[{index}] names unknown backend '{backend}'")
        window = spec.get("context_window")
        entries.append(
            _Entry(
                str(spec["name"]), backend, spec.get("served_name"), int(window) if window else None
            )
        )
    return ModelsFile(backends, entries)


def wants_embedded_default(settings: Settings) -> bool:
    """The embedded model is the default backend (no LLM base URL is set)."""
    return settings.embedded and not settings.llm_base_url


def require_embedded(settings: Settings, models_file: ModelsFile | None = None) -> None:
    """Raise `MissingExtra` (a one-line message) when the settings or the models file ask
    for an embedded model that its runtime (xllamacpp) is not here to run."""
    specs = models_file.backends if models_file is not None else {}
    embedded = [name for name, spec in specs.items() if spec.kind == "embedded"]
    if not embedded and not wants_embedded_default(settings):
        return
    problem = runtime_problem()
    if problem is None:
        return
    if wants_embedded_default(settings):
        raise MissingExtra(f"{problem} {OR_SERVER}")
    raise MissingExtra(f"backend '{embedded[0]}' in {settings.models}: {problem}")


def _embedded_default(settings: Settings) -> Path | None:
    """The default embedded model's file, or None (said in the log) when there is none."""
    try:
        model = embedded_model_path(settings)
    except ModelUnavailable as error:  # THREADLINE_MODEL names no packaged model
        log.warning("THREADLINE_MODEL: %s", error)
        return None
    if not model.is_file():
        log.warning(
            "the embedded model is not at %s: run `threadline model pull`, or set "
            "THREADLINE_LLM_BASE_URL",
            model,
        )
        return None
    return model


def build_registry(settings: Settings) -> ModelRegistry:
    def http(url: str, key: str | None) -> OpenAIHTTPBackend:
        return OpenAIHTTPBackend(
            url,
            key,
            read_timeout=settings.llm_read_timeout,
            max_connections=settings.llm_max_connections,
        )

    def embedded(path: Path, window: int | None) -> tuple[Backend, int]:
        window = window or settings.embedded_context_window
        backend = EmbeddedBackend(
            path,
            window,
            settings.embedded_threads,
            settings.embedded_max_turn_tokens,
            settings.embedded_tool_prompt,
        )
        return backend, window

    backends: dict[str, tuple[Backend, int]] = {}
    if settings.llm_base_url:
        backends[DEFAULT_BACKEND] = (
            http(settings.llm_base_url, settings.llm_api_key or None),
            settings.llm_context_window,
        )
    elif settings.embedded:
        model = _embedded_default(settings)
        if model is not None:
            backends[DEFAULT_BACKEND] = embedded(model, None)
    entries: list[_Entry] = []
    if settings.models is not None:
        parsed = read_models_file(settings.models)
        for name, spec in parsed.backends.items():
            if spec.kind == "embedded":
                assert spec.model_path is not None
                backends[name] = embedded(spec.model_path, spec.context_window)
            else:
                assert spec.base_url is not None
                backends[name] = (
                    http(spec.base_url, spec.api_key),
                    spec.context_window or settings.llm_context_window,
                )
        entries = parsed.entries
    if any(isinstance(backend, EmbeddedBackend) for backend, _ in backends.values()):
        problem = runtime_problem()
        if problem is not None:  # its runs fail with this message
            log.warning("%s; runs on the embedded model will fail", problem)
    return ModelRegistry(backends, entries)
