"""Which model names this server answers to: the names (and patterns) of the models file,
the list of the OpenAI-compatible server that serves every other name (asked on each
listing), and the embedded model when it is the default. Every name reaches a backend when a
default backend exists, so a name absent from the list is still served; retrieving it says
so (`owned_by` the backend that would serve it)."""

from __future__ import annotations

import fnmatch
import logging
import time
from pathlib import Path

import httpx

from threadline.backends import packaged_model
from threadline.backends.registry import DEFAULT_BACKEND, read_models_file
from threadline.config import Settings
from threadline.errors import not_found
from threadline.models.schemas import ModelObject

log = logging.getLogger("threadline")

_STARTED = int(time.time())


def _declared(settings: Settings) -> list[ModelObject]:
    """The models file's entries, patterns as they are."""
    if settings.models is None:
        return []
    created = _mtime(settings.models)
    return [
        ModelObject(id=entry.pattern, created=created, owned_by=entry.backend)
        for entry in read_models_file(settings.models).entries
    ]


def _mtime(path: Path) -> int:
    try:
        return int(path.stat().st_mtime)
    except OSError:
        return _STARTED


async def _backend_list(settings: Settings) -> list[ModelObject]:
    """The default OpenAI-compatible server's own list; empty (and logged) when it does not
    answer."""
    headers = {"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {}
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(
                f"{settings.llm_base_url.rstrip('/')}/models", headers=headers
            )
            response.raise_for_status()
            listed = response.json().get("data") or []
    except (httpx.HTTPError, ValueError) as error:
        log.warning("listing the models of %s failed: %s", settings.llm_base_url, error)
        return []
    return [
        ModelObject(
            id=str(item["id"]),
            created=int(item.get("created") or _STARTED),
            owned_by=str(item.get("owned_by") or DEFAULT_BACKEND),
        )
        for item in listed
        if isinstance(item, dict) and item.get("id")
    ]


def _embedded(settings: Settings) -> list[ModelObject]:
    if settings.llm_base_url or not settings.embedded:
        return []
    path = packaged_model.embedded_model_path(settings)
    return [ModelObject(id=path.stem, created=_mtime(path), owned_by="threadline")]


async def list_models(settings: Settings) -> list[ModelObject]:
    found: dict[str, ModelObject] = {}
    backend = await _backend_list(settings) if settings.llm_base_url else []
    for model in [*_declared(settings), *backend, *_embedded(settings)]:
        found.setdefault(model.id, model)
    return list(found.values())


async def retrieve_model(settings: Settings, model: str) -> ModelObject:
    for known in await list_models(settings):
        if known.id == model:
            return known
    for entry in _declared(settings):
        if fnmatch.fnmatchcase(model, entry.id):
            return ModelObject(id=model, created=entry.created, owned_by=entry.owned_by)
    if settings.llm_base_url or settings.embedded:
        # The default backend serves every other name, under the name itself.
        return ModelObject(id=model, created=_STARTED, owned_by=DEFAULT_BACKEND)
    raise not_found("model", model)
