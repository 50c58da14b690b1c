"""Overhead against the physical limit: one conversation turn as a streamed run through
Threadline against the same turn as a streamed chat completion sent straight to the backend.

The backend is the scripted OpenAI-compatible server in its own process: 20 ms to the first
token, then 200 tokens at 500 tokens/s (a fixed schedule). Both sides use the official SDK
(`openai`), in this process, alternating turn by turn:
(a) `threads.runs.create(..., additional_messages=[question], stream=True)` on a fresh thread;
(b) `chat.completions.create(..., stream=True)` with the messages Threadline sends.
Time to first token: from the call to the first text delta. Total: to the stream's end.

    .venv/bin/python benchmarks/overhead.py [--repeat 30] [--stores sqlite postgres] [--write]
"""

from __future__ import annotations

import argparse
import statistics
import time

from common import STORES, emit, scripted_backend, spread, stamp, threadline, verdict
from openai import OpenAI

INSTRUCTIONS = "You are a helpful assistant."
QUESTION = "Tell me about lighthouses."
TOKENS, FIRST_TOKEN_MS, RATE = 200, 20.0, 500.0


def through_threadline(client: OpenAI, assistant_id: str, thread_id: str) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    stream = client.beta.threads.runs.create(
        thread_id=thread_id,
        assistant_id=assistant_id,
        additional_messages=[{"role": "user", "content": QUESTION}],
        stream=True,
    )
    for event in stream:
        if first is None and event.event == "thread.message.delta":
            first = time.perf_counter() - started
        if event.event == "thread.run.failed":
            raise RuntimeError(f"run failed: {event.data.last_error}")
    assert first is not None
    return first, time.perf_counter() - started


def direct(client: OpenAI) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    stream = client.chat.completions.create(
        model="bench",
        messages=[
            {"role": "system", "content": INSTRUCTIONS},
            {"role": "user", "content": QUESTION},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    assert first is not None
    return first, time.perf_counter() - started


def measure(store: str, repeat: int) -> dict[str, list[float]]:
    with (
        scripted_backend(TOKENS, FIRST_TOKEN_MS, RATE) as backend_url,
        threadline(store, backend_url) as server,
    ):
        ours = OpenAI(base_url=server.base_url, api_key="local", max_retries=0)
        theirs = OpenAI(base_url=backend_url, api_key="none", max_retries=0)
        assistant = ours.beta.assistants.create(model="bench", instructions=INSTRUCTIONS)
        threads = [ours.beta.threads.create().id for _ in range(repeat + 3)]
        figures: dict[str, list[float]] = {
            key: [] for key in ("a_first", "a_total", "b_first", "b_total")
        }
        for i, thread_id in enumerate(threads):
            b = direct(theirs)
            a = through_threadline(ours, assistant.id, thread_id)
            if i < 3:
                continue  # warm-up: connections, caches, the first query plans
            figures["a_first"].append(a[0])
            figures["a_total"].append(a[1])
            figures["b_first"].append(b[0])
            figures["b_total"].append(b[1])
        return figures


def report(opening: str, results: dict[str, dict[str, list[float]]], repeat: int) -> str:
    lines = [
        "## 1. Overhead against the limit (streamed turn: Threadline vs. the backend directly)",
        "",
        opening,
        "",
        f"Backend: the scripted OpenAI-compatible server in its own process, "
        f"{FIRST_TOKEN_MS:.0f} ms to the first token, {TOKENS} tokens at {RATE:.0f} tokens/s. "
        f"(a) a streamed run through Threadline with the official SDK (`runs.create(..., "
        f"additional_messages=[...], stream=True)` on a fresh thread); (b) a streamed chat "
        f"completion with the same messages straight to the backend (the limit). Alternating "
        f"a/b, {repeat} turns each after 3 warm-up turns; milliseconds, median (min-max).",
        "",
        "| store | first token (b) direct | first token (a) Threadline | added at median "
        "| total (b) direct | total (a) Threadline | ratio a/b (total) | targets |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for store, f in results.items():
        added = statistics.median(f["a_first"]) - statistics.median(f["b_first"])
        ratio = statistics.median(f["a_total"]) / statistics.median(f["b_total"])
        lines.append(
            f"| {store} | {spread(f['b_first'], 1000)} | {spread(f['a_first'], 1000)} "
            f"| {1000 * added:+.1f} ms | {spread(f['b_total'], 1000)} "
            f"| {spread(f['a_total'], 1000)} | **{ratio:.3f}** "
            f"| ratio ≤ 1.05: {verdict(ratio <= 1.05)}; added ≤ 5 ms: {verdict(added <= 0.005)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=STORES)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    results = {store: measure(store, args.repeat) for store in args.stores}
    emit("overhead", report(opening, results, args.repeat), args.write)


if __name__ == "__main__":
    main()
