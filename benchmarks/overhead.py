"""Overhead against the physical limit: one conversation turn as a streamed run, and as a
streamed response, through Threadline against the same turn as a streamed chat completion
sent straight to the backend.

The backend is the scripted OpenAI-compatible server in its own process: 20 ms to the first
token, then 200 tokens at 500 tokens/s (a fixed schedule). Both sides use the official SDK
(`openai`), in this process, alternating turn by turn:
(a) `threads.runs.create(..., additional_messages=[question], stream=True)` on a fresh thread;
(b) `chat.completions.create(..., stream=True)` with the messages Threadline sends;
(c) `responses.create(..., instructions=..., input=question, stream=True)`.
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


def as_response(client: OpenAI) -> tuple[float, float]:
    started = time.perf_counter()
    first = None
    stream = client.responses.create(
        model="bench", instructions=INSTRUCTIONS, input=QUESTION, stream=True
    )
    for event in stream:
        if first is None and event.type == "response.output_text.delta":
            first = time.perf_counter() - started
        if event.type == "response.failed":
            raise RuntimeError(f"response failed: {event.response.error}")
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
            f"{arm}_{what}": [] for arm in "abc" for what in ("first", "total")
        }
        for i, thread_id in enumerate(threads):
            b = direct(theirs)
            a = through_threadline(ours, assistant.id, thread_id)
            c = as_response(ours)
            if i < 3:
                continue  # warm-up: connections, caches, the first query plans
            for arm, (first, total) in (("a", a), ("b", b), ("c", c)):
                figures[f"{arm}_first"].append(first)
                figures[f"{arm}_total"].append(total)
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
        f"completion with the same messages straight to the backend (the limit); (c) a "
        f"streamed response through Threadline (`responses.create(..., stream=True)`, a new "
        f"response each time). Alternating b/a/c, {repeat} turns each after 3 warm-up turns; "
        f"milliseconds, median (min-max).",
        "",
        "| store | API | first token (b) direct | first token through Threadline | added at "
        "median | total (b) direct | total through Threadline | ratio to (b) (total) | targets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for store, f in results.items():
        for arm, api in (("a", "(a) run"), ("c", "(c) response")):
            added = statistics.median(f[f"{arm}_first"]) - statistics.median(f["b_first"])
            ratio = statistics.median(f[f"{arm}_total"]) / statistics.median(f["b_total"])
            lines.append(
                f"| {store} | {api} | {spread(f['b_first'], 1000)} "
                f"| {spread(f[f'{arm}_first'], 1000)} | {1000 * added:+.1f} ms "
                f"| {spread(f['b_total'], 1000)} | {spread(f[f'{arm}_total'], 1000)} "
                f"| **{ratio:.3f}** | ratio ≤ 1.05: {verdict(ratio <= 1.05)}; "
                f"added ≤ 5 ms: {verdict(added <= 0.005)} |"
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
