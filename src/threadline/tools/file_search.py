"""The `file_search` tool of runs: the model asks for a search, Threadline runs it.

The model sees a function `file_search(query)`. Its searches run over the vector stores
of the run's assistant and thread (waiting for files still being ingested), and each is
recorded as a `file_search` tool call with its ranking options and results. The model gets
the results as text, each marked `【n†filename】` for citing; markers in its answer become
`file_citation` annotations. The answer is the model's own: an answer that cites nothing
gets no citation.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from threadline.backends.embedder_choice import Embedders
from threadline.db.engine import Database
from threadline.tools.base import (
    AnswerParts,
    BuiltinTool,
    CallResult,
    ToolContext,
    ToolParts,
    ToolRun,
)
from threadline.vector_stores import service as vector_stores
from threadline.vector_stores.index import ChunkIndex
from threadline.vector_stores.models import VectorStore, VectorStoreFile
from threadline.vector_stores.search import Hit, search

NAME = "file_search"
DEFAULT_MAX_RESULTS = 20
INGESTION_WAIT_SECONDS = 120
MARKER = re.compile(r"【(\d+)(?::\d+)?†([^】]*)】")

CHAT_TOOL = {
    "type": "function",
    "function": {
        "name": NAME,
        "description": (
            "Search the files the user provided (documents, notes, data) and return the "
            "passages most relevant to the query. Use it to answer questions about their "
            "content."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for in the files."}
            },
            "required": ["query"],
        },
    },
}


@dataclass
class Source:
    """A search result as the run knows it: what its marker number cites."""

    file_id: str
    filename: str


def query_of(arguments: str) -> str:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    if isinstance(value, dict):
        query = value.get("query") or value.get("queries") or ""
        return " ".join(query) if isinstance(query, list) else str(query)
    return str(value)


def results_text(results: list[dict[str, Any]], first: int, limit_chars: int) -> str:
    """The results as the model reads them, within `limit_chars`."""
    if not results:
        return "No relevant passages were found in the files."
    parts = []
    used = 0
    for offset, result in enumerate(results):
        body = " ".join(c["text"] for c in result.get("content") or [])
        marker = f"【{first + offset}†{result['file_name']}】"
        room = limit_chars - used - len(marker) - 2
        if room <= 80:
            break
        piece = f"{marker} {body[:room]}"
        parts.append(piece)
        used += len(piece) + 2
    parts.append("Cite the passages you use with their markers, such as 【0†notes.txt】.")
    return "\n\n".join(parts)


def annotate(text: str, sources: list[Source]) -> list[dict[str, Any]]:
    """The answer's citation markers as `file_citation` annotations."""
    annotations = []
    for match in MARKER.finditer(text):
        number = int(match.group(1))
        if number < len(sources):
            annotations.append(
                {
                    "type": "file_citation",
                    "text": match.group(0),
                    "start_index": match.start(),
                    "end_index": match.end(),
                    "file_citation": {"file_id": sources[number].file_id},
                }
            )
    return annotations


class FileSearch:
    def __init__(
        self,
        db: Database,
        index: ChunkIndex,
        embedders: Embedders,
        wait_seconds: float = INGESTION_WAIT_SECONDS,
    ) -> None:
        self.wait_seconds = wait_seconds
        self.db = db
        self.index = index
        self.embedders = embedders

    async def _wait_for_ingestion(self, store_ids: list[str]) -> None:
        deadline = time.monotonic() + self.wait_seconds
        while time.monotonic() < deadline:
            async with self.db.read() as session:
                waiting = await session.scalar(
                    select(func.count()).where(
                        VectorStoreFile.vector_store_id.in_(store_ids),
                        VectorStoreFile.status == "in_progress",
                    )
                )
            if not waiting:
                return
            await asyncio.sleep(0.2)

    async def run(
        self, store_ids: list[str], options: dict[str, Any], query: str
    ) -> tuple[dict[str, Any], list[Hit]]:
        """One search: its `ranking_options` as recorded, and its hits."""
        ranking = options.get("ranking_options") or {}
        ranker = ranking.get("ranker") or "default_2024_08_21"
        threshold = float(ranking.get("score_threshold") or 0.0)
        recorded = {"ranker": ranker, "score_threshold": threshold}
        if not store_ids or not query.strip():
            return recorded, []
        await self._wait_for_ingestion(store_ids)
        async with self.db.write() as session:
            stores = list(
                await session.scalars(select(VectorStore).where(VectorStore.id.in_(store_ids)))
            )
            live = [store for store in stores if not vector_stores.is_expired(store)]
            hits = await search(
                session,
                self.index,
                self.embedders,
                live,
                [query],
                max_results=int(options.get("max_num_results") or DEFAULT_MAX_RESULTS),
                ranker="auto",
                score_threshold=threshold,
            )
            await vector_stores.touch(session, live)
        return recorded, hits


def call_details(call_id: str, ranking: dict[str, Any], hits: list[Hit]) -> dict[str, Any]:
    """A `file_search` tool call of a step, with the content kept (shown on request)."""
    return {
        "id": call_id,
        "type": "file_search",
        "file_search": {
            "ranking_options": ranking,
            "results": [
                {
                    "file_id": hit.file_id,
                    "file_name": hit.filename,
                    "score": round(min(1.0, max(0.0, hit.score)), 6),
                    "content": [{"type": "text", "text": hit.text}],
                }
                for hit in hits
            ],
        },
    }


def _sources(call: dict[str, Any]) -> list[Source]:
    return [
        Source(result["file_id"], result["file_name"])
        for result in call["file_search"].get("results", [])
    ]


class FileSearchRun(ToolRun):
    """Searches of one run: every result it found is numbered, in order, for citing."""

    def __init__(self, search: FileSearch, context: ToolContext) -> None:
        self.search = search
        self.store_ids = context.resource_list(NAME, "vector_store_ids")
        self.options = context.options.get(NAME) or {}
        self.sources = [
            source
            for call in context.earlier_calls
            if call.get("type") == NAME
            for source in _sources(call)
        ]

    def begin_call(self, call_id: str) -> dict[str, Any]:
        return {NAME: {}}

    async def call(self, call_id: str, arguments: str) -> CallResult:
        ranking, hits = await self.search.run(self.store_ids, self.options, query_of(arguments))
        details = call_details(call_id, ranking, hits)
        self.sources += _sources(details)
        return CallResult(details, kept={"arguments": arguments})

    def answer(self, text: str) -> AnswerParts:
        return AnswerParts(annotations=annotate(text, self.sources))


class FileSearchTool(BuiltinTool):
    type = NAME
    name = NAME
    definition = CHAT_TOOL

    def __init__(self, search: FileSearch) -> None:
        self.search = search

    @classmethod
    def create(cls, parts: ToolParts) -> FileSearchTool:
        wait = parts.settings.file_search_wait_seconds
        return cls(FileSearch(parts.db, parts.chunk_index, parts.embedders, wait))

    def start(self, context: ToolContext) -> FileSearchRun:
        return FileSearchRun(self.search, context)

    def restate(
        self, call: dict[str, Any], kept: dict[str, Any], memo: dict[str, Any], room: int
    ) -> tuple[str, str]:
        # Results are numbered per run, as the run's citations count them.
        results = call[NAME].get("results", [])
        first = memo.get("found", 0)
        memo["found"] = first + len(results)
        return kept.get("arguments", "{}"), results_text(results, first, room)
