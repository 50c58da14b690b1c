"""The `file_search` tool of runs: the model asks for a search, Threadline runs it.

The model sees a function `file_search(query)`. Its searches run over the vector stores
of the run's assistant and thread, and each is recorded as a `file_search` tool call with its
ranking options and results. The model gets the results as text, each marked
`【n†filename】` for citing; markers in its answer become `file_citation` annotations. The
answer is the model's own: an answer that cites nothing gets no citation.

A search of stores whose files are still being ingested waits for them, up to
`THREADLINE_FILE_SEARCH_WAIT_SECONDS`, woken as files are done (`ingestion/settled.py`). Files
still not ready then are left out, and said to be: in the text the model reads with the
results (a step's `file_search` call has no field for it) and in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from threadline.backends.embedder_choice import Embedders
from threadline.db.engine import Database
from threadline.files.models import File
from threadline.tools.base import (
    AnswerParts,
    BuiltinTool,
    CallResult,
    ToolContext,
    ToolParts,
    ToolRun,
)
from threadline.vector_stores import filters
from threadline.vector_stores import service as vector_stores
from threadline.vector_stores.index import ChunkIndex
from threadline.vector_stores.ingestion import settled
from threadline.vector_stores.models import VectorStore, VectorStoreFile
from threadline.vector_stores.search import HYBRID_RANKERS, Hit, search

log = logging.getLogger("threadline.tools")

NAME = "file_search"
DEFAULT_MAX_RESULTS = 20
INGESTION_WAIT_SECONDS = 120
# While waiting, a search looks at its files when ingestion says one is done, and this often
# regardless (files leave `in_progress` in ways that announce nothing: a cancelled batch).
RECHECK_SECONDS = 2.0
HYBRID = next(iter(HYBRID_RANKERS))
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


@dataclass
class Searched:
    """One search: its `ranking_options` as recorded, its hits, and the files it could not
    search because they were still being ingested."""

    ranking: dict[str, Any]
    hits: list[Hit] = field(default_factory=list)
    unready: list[Source] = field(default_factory=list)


def query_of(arguments: str) -> str:
    try:
        value = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    if isinstance(value, dict):
        query = value.get("query") or value.get("queries") or ""
        return " ".join(query) if isinstance(query, list) else str(query)
    return str(value)


def unready_text(unready: list[dict[str, str]]) -> str:
    """What the model reads of files a search could not look into yet."""
    if not unready:
        return ""
    names = ", ".join(f"{file['filename']} ({file['file_id']})" for file in unready)
    return (
        f"Not searched: {names} — still being processed when the search ran; their "
        "content is not in these results."
    )


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
                    # For the Responses API's shape, which names the file (Assistants
                    # serializers leave it out).
                    "filename": sources[number].filename,
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

    async def _unready(self, store_ids: list[str]) -> list[Source]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(VectorStoreFile.id, File.filename)
                .join(File, File.id == VectorStoreFile.id, isouter=True)
                .where(
                    VectorStoreFile.vector_store_id.in_(store_ids),
                    VectorStoreFile.status == "in_progress",
                )
                .order_by(VectorStoreFile.created_at, VectorStoreFile.id)
            )
            return [Source(file_id, filename or file_id) for file_id, filename in rows]

    async def _wait_for_ingestion(self, store_ids: list[str]) -> list[Source]:
        """Wait, up to the bound, for the stores' files still being ingested; those still
        not ready then."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        with settled.listening() as news:
            while True:
                news.clear()  # before the look: news during it means look again
                unready = await self._unready(store_ids)
                left = deadline - loop.time()
                if not unready or left <= 0:
                    return unready
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), min(left, RECHECK_SECONDS))

    async def run(self, store_ids: list[str], options: dict[str, Any], query: str) -> Searched:
        """One search over the stores, once their files are ready or the wait is over."""
        ranking = options.get("ranking_options") or {}
        ranker = ranking.get("ranker") or "default_2024_08_21"
        threshold = float(ranking.get("score_threshold") or 0.0)
        searched = Searched({"ranker": ranker, "score_threshold": threshold})
        # A response's tool may ask for the hybrid ranker, and weigh its two rankings.
        weights = ranking.get("hybrid_search")
        hybrid = ranker in HYBRID_RANKERS or weights is not None
        if not store_ids or not query.strip():
            return searched
        searched.unready = await self._wait_for_ingestion(store_ids)
        async with self.db.write() as session:
            stores = list(
                await session.scalars(select(VectorStore).where(VectorStore.id.in_(store_ids)))
            )
            live = [store for store in stores if not vector_stores.is_expired(store)]
            searched.hits = await search(
                session,
                self.index,
                self.embedders,
                live,
                [query],
                max_results=int(options.get("max_num_results") or DEFAULT_MAX_RESULTS),
                filters=filters.from_stored(options.get("filters")),
                ranker=HYBRID if hybrid else "auto",
                score_threshold=threshold,
                weights=(weights["embedding_weight"], weights["text_weight"]) if weights else None,
            )
            await vector_stores.touch(session, live)
        return searched


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
        self.run_id = context.run_id
        self.options = context.options.get(NAME) or {}
        # A run's stores are its assistant's and thread's; a response names its own.
        self.store_ids = context.resource_list(NAME, "vector_store_ids")
        self.store_ids += [
            store_id
            for store_id in self.options.get("vector_store_ids") or []
            if store_id not in self.store_ids
        ]
        self.sources = [
            source
            for call in context.earlier_calls
            if call.get("type") == NAME
            for source in _sources(call)
        ]

    def begin_call(self, call_id: str) -> dict[str, Any]:
        return {NAME: {}}

    async def call(self, call_id: str, arguments: str) -> CallResult:
        searched = await self.search.run(self.store_ids, self.options, query_of(arguments))
        details = call_details(call_id, searched.ranking, searched.hits)
        self.sources += _sources(details)
        kept: dict[str, Any] = {"arguments": arguments}
        # The files' attributes, which a response's results show (a step's have no field).
        attributes = {hit.file_id: hit.attributes for hit in searched.hits if hit.attributes}
        if attributes:
            kept["attributes"] = attributes
        if searched.unready:
            kept["unready"] = [
                {"file_id": file.file_id, "filename": file.filename} for file in searched.unready
            ]
            log.warning(
                "run %s: file_search %s searched without %d file(s) still being ingested "
                "after waiting %g s: %s",
                self.run_id,
                call_id,
                len(searched.unready),
                self.search.wait_seconds,
                ", ".join(f"{file.filename} ({file.file_id})" for file in searched.unready),
            )
        return CallResult(details, kept=kept)

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
        note = unready_text(kept.get("unready") or [])
        if not note:
            return kept.get("arguments", "{}"), results_text(results, first, room)
        found = results_text(results, first, room - len(note) - 2)
        return kept.get("arguments", "{}"), f"{note}\n\n{found}"
