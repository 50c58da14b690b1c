"""Embedded model: tokens/s through Threadline against its runtime called directly.

Both sides run the same GGUF file, the same prompt (rendered by the model's own chat
template), greedy decoding, the same token limit. Direct: llama.cpp's server (xllamacpp,
Threadline's embedded runtime, backends/llama_runtime.py) asked for a streamed completion in
this process. Through Threadline: a streamed run via the official SDK against `threadline serve`
on loopback (SQLite), its tokens counted from the run's usage, the time from the request to
the end of the stream (run creation, storage and SSE included). In both, a repeated prompt
prefix is not evaluated again.

    .venv/bin/python benchmarks/embedded.py [--repeat 7] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import default_model, embedded_threadline, emit, rss_mib, spread, stamp, verdict
from openai import OpenAI

from threadline.backends.llama_runtime import LlamaRuntime

INSTRUCTIONS = "You are a helpful assistant."
QUESTION = "Write a story of about 200 words about a lighthouse keeper and a storm."
MAX_TOKENS = 256


def direct(model: Path, repeat: int) -> tuple[list[float], list[int], float, float]:
    started = time.perf_counter()
    runtime = LlamaRuntime(model, context_window=4096, threads=2)
    load = time.perf_counter() - started
    prompt = runtime.render(
        [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": QUESTION}],
        None,
    )
    tokens = runtime.tokenize(prompt)
    rates, counts = [], []
    for _ in range(repeat):
        # As in the server, a repeated prompt prefix is not evaluated again.
        started = time.perf_counter()
        outcome = runtime.complete(
            {"prompt": tokens, "n_predict": MAX_TOKENS, "temperature": 0.0, "top_p": 1.0},
            lambda _piece: False,
        )
        elapsed = time.perf_counter() - started
        rates.append(outcome.generated / elapsed)
        counts.append(outcome.generated)
    rss = rss_mib(os.getpid())
    runtime.close()
    return rates, counts, load, rss


def through_threadline(model: Path, repeat: int) -> tuple[list[float], list[int], float, float]:
    with embedded_threadline(model) as server:
        client = OpenAI(base_url=server.base_url, api_key="local")
        assistant = client.beta.assistants.create(
            model="gpt-4o", instructions=INSTRUCTIONS, temperature=0.0, top_p=1.0
        )

        def once() -> tuple[float, int, float]:
            thread = client.beta.threads.create(messages=[{"role": "user", "content": QUESTION}])
            started = time.perf_counter()
            with client.beta.threads.runs.stream(
                thread_id=thread.id,
                assistant_id=assistant.id,
                max_completion_tokens=MAX_TOKENS,
                truncation_strategy={"type": "last_messages", "last_messages": 1},
            ) as stream:
                stream.until_done()
                run = stream.get_final_run()
            elapsed = time.perf_counter() - started
            return run.usage.completion_tokens / elapsed, run.usage.completion_tokens, elapsed

        first = once()[2]  # loads the model
        results = [once() for _ in range(repeat)]
        # The load: what the first run took beyond a typical one.
        load = first - statistics.median(elapsed for _, _, elapsed in results)
        assert server.process is not None
        rss = rss_mib(server.process.pid)
    return [r for r, _, _ in results], [c for _, c, _ in results], load, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    model = default_model()
    d_rates, d_counts, d_load, d_rss = direct(model, args.repeat)
    t_rates, t_counts, t_load, t_rss = through_threadline(model, args.repeat)
    ratio = statistics.median(t_rates) / statistics.median(d_rates)
    lines = [
        "## 5. Embedded model: through Threadline against its runtime directly",
        "",
        opening,
        "",
        f"The same GGUF file ({model.name}), the same prompt rendered by the model's chat "
        f"template, greedy decoding, a {MAX_TOKENS}-token limit. Direct: llama.cpp's "
        "server (xllamacpp) asked for a streamed completion in-process. Through Threadline: "
        "a streamed run "
        "with the official SDK against `threadline serve` on loopback (SQLite), tokens counted "
        "from the run's usage, timed from the request to the end of the stream (run creation, "
        "storage and SSE included). In both, a repeated prompt prefix is not evaluated again. "
        f"{args.repeat} repetitions, median (min-max).",
        "",
        "| | tokens/s | tokens per run | load | RSS |",
        "|---|---|---|---|---|",
        f"| llama.cpp (xllamacpp) direct | {spread(d_rates)} | {statistics.median(d_counts):.0f} "
        f"| {d_load:.2f} s (constructor) | {d_rss:.0f} MiB (this process) |",
        f"| through Threadline (SDK, streamed run) | {spread(t_rates)} | "
        f"{statistics.median(t_counts):.0f} | {t_load:.2f} s (first run's extra time) "
        f"| {t_rss:.0f} MiB (server) |",
        "",
        f"Ratio (Threadline / direct, median tokens/s): **{ratio:.3f}** "
        f"(target ≥ 0.95: {verdict(ratio >= 0.95)})",
    ]
    emit("embedded", "\n".join(lines), args.write)


if __name__ == "__main__":
    main()
