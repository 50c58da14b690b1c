"""Distributed mode: API processes and workers apart, on PostgreSQL and Redis.

(1) Throughput with an instant backend (section 2's load: streamed `POST /threads/runs`,
clients spread over the API processes) for one process on PostgreSQL, and for 2 API
processes with 1 and with 2 workers; CPU is the user+system seconds of every Threadline
process per completed run (PostgreSQL's and Redis's own CPU not included).
(2) Overhead (section 1's turn: 20 ms to the first token, 200 tokens at 500/s) through one
process and through 2 API processes + 2 workers, against the backend directly, in turns.

    .venv/bin/python benchmarks/distributed.py [--clients 16 64] [--repeat 20] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from common import emit, scripted_backend, server_pid, spread, stamp, threadline, verdict
from openai import OpenAI
from overhead import FIRST_TOKEN_MS, INSTRUCTIONS, RATE, TOKENS, direct, through_threadline
from tests.support.cluster import SHARED_REDIS, Cluster
from tests.support.postgres import fresh_database
from throughput import TOKENS as INSTANT_TOKENS
from throughput import load


@contextlib.contextmanager
def cluster(backend_url: str, apis: int, workers: int) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="threadline-cluster-") as tmp, fresh_database() as url:
        env = {"THREADLINE_LLM_BASE_URL": backend_url, "THREADLINE_POLL_AFTER_MS": "10"}
        running = Cluster(url, SHARED_REDIS, Path(tmp), env)
        try:
            yield running.start(apis=apis, workers=workers)
        except BaseException:
            for server in [*running.apis, *running.workers]:
                log = server.log()
                start = log.find("Traceback")
                print(f"--- {server.extra_args[1]} {server.base_url}\n", log[start:][-6000:])
            raise
        finally:
            running.stop()


def pids(running: Cluster) -> list[int]:
    return [server_pid(server) for server in [*running.apis, *running.workers]]


def throughput(clients: list[int], warmup: float, windows: int, window: float):
    results = {}
    with scripted_backend(INSTANT_TOKENS) as backend_url:
        layouts: list[tuple[str, object]] = [("1 process", None), ("2 API + 1 worker", (2, 1)),
                                             ("2 API + 2 workers", (2, 2))]  # fmt: skip
        for name, layout in layouts:
            with contextlib.ExitStack() as stack:
                if layout is None:
                    server = stack.enter_context(threadline("postgres", backend_url))
                    urls, processes = [server.base_url], [server_pid(server)]
                else:
                    apis, workers = layout  # type: ignore[misc]
                    running = stack.enter_context(cluster(backend_url, apis, workers))
                    urls, processes = [api.base_url for api in running.apis], pids(running)
                assistant = httpx.post(f"{urls[0]}/assistants", json={"model": "bench"}).json()
                for n in clients:
                    results[(name, n)] = asyncio.run(
                        load(urls, assistant["id"], n, False, warmup, windows, window, processes)
                    )
    return results


def overhead(repeat: int) -> dict[str, dict[str, list[float]]]:
    figures: dict[str, dict[str, list[float]]] = {
        side: {"first": [], "total": []} for side in ("direct", "single", "distributed")
    }
    with (
        scripted_backend(TOKENS, FIRST_TOKEN_MS, RATE) as backend_url,
        threadline("postgres", backend_url) as single,
        cluster(backend_url, 2, 2) as running,
    ):
        theirs = OpenAI(base_url=backend_url, api_key="none", max_retries=0)
        one = OpenAI(base_url=single.base_url, api_key="local", max_retries=0)
        # Turns alternate between the two API processes.
        replicas = [
            OpenAI(base_url=api.base_url, api_key="local", max_retries=0) for api in running.apis
        ]
        one_assistant = one.beta.assistants.create(model="bench", instructions=INSTRUCTIONS)
        assistant = replicas[0].beta.assistants.create(model="bench", instructions=INSTRUCTIONS)
        for turn in range(repeat + 3):
            replica = replicas[turn % 2]
            measured = {
                "direct": direct(theirs),
                "single": through_threadline(one, one_assistant.id, one.beta.threads.create().id),
                "distributed": through_threadline(
                    replica, assistant.id, replica.beta.threads.create().id
                ),
            }
            if turn < 3:
                continue  # warm-up
            for side, (first, total) in measured.items():
                figures[side]["first"].append(first)
                figures[side]["total"].append(total)
    return figures


def report(opening: str, rates, turns, args) -> str:
    lines = [
        "## 8. Distributed mode: API processes and workers on PostgreSQL and Redis",
        "",
        opening,
        "",
        f"Throughput: section 2's plain run (an instant backend, {INSTANT_TOKENS} tokens), "
        f"clients spread over the API processes; {args.warmup:.0f} s warm-up, then "
        f"{args.windows} windows of {args.window:.0f} s, median (min-max). CPU: user+system "
        f"seconds of every Threadline process per completed run (PostgreSQL's and Redis's "
        f"own not included). All of it, clients and backend too, on this machine's 2 cores.",
        "",
        "| layout | clients | runs/s | Threadline CPU ms per run |",
        "|---|---|---|---|",
    ]
    for (name, n), (rate, cpu) in rates.items():
        lines.append(f"| {name} | {n} | {spread(rate)} | {spread(cpu, 1000)} |")
    direct_first = statistics.median(turns["direct"]["first"])
    direct_total = statistics.median(turns["direct"]["total"])
    single_first = statistics.median(turns["single"]["first"])
    lines += [
        "",
        f"Overhead: section 1's turn ({FIRST_TOKEN_MS:.0f} ms to the first token, {TOKENS} "
        f"tokens at {RATE:.0f}/s), {args.repeat} turns each after 3 warm-up turns, direct / "
        f"one process on PostgreSQL / 2 API processes + 2 workers in turns; milliseconds, "
        f"median (min-max).",
        "",
        "| path | first token | total | ratio to direct (total) | first token added over "
        "one process | targets |",
        "|---|---|---|---|---|---|",
    ]
    for side in ("direct", "single", "distributed"):
        f = turns[side]
        ratio = statistics.median(f["total"]) / direct_total
        added = statistics.median(f["first"]) - single_first
        target = ""
        if side == "distributed":
            target = (
                f"ratio ≤ 1.10: {verdict(ratio <= 1.10)}; added ≤ 10 ms: {verdict(added <= 0.010)}"
            )
        lines.append(
            f"| {side} | {spread(f['first'], 1000)} | {spread(f['total'], 1000)} "
            f"| {ratio:.3f} | {1000 * added:+.1f} ms | {target} |"
        )
    lines.append("")
    lines.append(
        f"The backend's first token comes {1000 * direct_first:.1f} ms after the direct call."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    rates = throughput(args.clients, args.warmup, args.windows, args.window)
    turns = overhead(args.repeat)
    emit("distributed", report(opening, rates, turns, args), args.write)


if __name__ == "__main__":
    main()
