"""Throughput: runs completed per second with an instant backend, at 1, 16 and 64 concurrent
clients, and the server's CPU seconds per run; the same for a tool-call round trip
(`requires_action`, `submit_tool_outputs`, `completed`).

Each client is an asyncio task in this process with its own HTTP connection (httpx, raw SSE
parsing, so that the client's own cost stays small); each run is one streamed
`POST /threads/runs` (a new thread with one message), read to `data: [DONE]`; a round trip
adds a streamed `submit_tool_outputs`. The backend (its own process) answers at once: 20 text
tokens, or a tool call and then the text once the prompt ends with the tool's result.
After a warm-up, several windows are counted; a run counts when its final event arrives.

    .venv/bin/python benchmarks/throughput.py [--clients 1 16 64] [--window 5] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field

import httpx
from common import (
    STORES,
    cpu_seconds,
    emit,
    scripted_backend,
    server_pid,
    spread,
    stamp,
    threadline,
    verdict,
)

TOKENS = 20
RUN_EVENTS = ("thread.run.requires_action", "thread.run.completed", "thread.run.failed")


async def sse(client: httpx.AsyncClient, path: str, body: dict) -> dict[str, dict]:
    """POST a streamed request; the last data of each event name, once the stream ends."""
    last: dict[str, dict] = {}
    event = ""
    async with client.stream("POST", path, json={**body, "stream": True}) as response:
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {await response.aread()!r}")
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event in RUN_EVENTS:
                last[event] = json.loads(line[6:])
    return last


async def one_run(client: httpx.AsyncClient, assistant_id: str, round_trip: bool) -> None:
    body = {
        "assistant_id": assistant_id,
        "thread": {"messages": [{"role": "user", "content": "What is the time?"}]},
    }
    events = await sse(client, "/threads/runs", body)
    if round_trip:
        run = events["thread.run.requires_action"]
        calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
        outputs = [{"tool_call_id": call["id"], "output": "12:00"} for call in calls]
        path = f"/threads/{run['thread_id']}/runs/{run['id']}/submit_tool_outputs"
        events = await sse(client, path, {"tool_outputs": outputs})
    if "thread.run.completed" not in events:
        raise RuntimeError(f"run did not complete: {sorted(events)}")


@dataclass
class Counter:
    done: int = 0
    errors: list[str] = field(default_factory=list)


async def load(
    base_urls: list[str], assistant_id: str, clients: int, round_trip: bool, warmup: float,
    windows: int, window: float, pids: list[int],
) -> tuple[list[float], list[float]]:  # fmt: skip
    """Runs/s and server CPU seconds per run (all of `pids` together), one of each per
    window. Clients take the base URLs in turn."""
    counter = Counter()
    stop = asyncio.Event()

    def cpu() -> float:
        return sum(cpu_seconds(pid) for pid in pids)

    async def client_loop(base_url: str) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            while not stop.is_set():
                try:
                    await one_run(client, assistant_id, round_trip)
                    counter.done += 1
                except Exception as error:  # counted, reported, never hidden
                    counter.errors.append(repr(error))
                    await asyncio.sleep(0.1)

    tasks = [
        asyncio.create_task(client_loop(base_urls[i % len(base_urls)])) for i in range(clients)
    ]
    await asyncio.sleep(warmup)
    rates, cpu_per_run = [], []
    for _ in range(windows):
        done, spent, started = counter.done, cpu(), time.perf_counter()
        await asyncio.sleep(window)
        runs = counter.done - done
        rates.append(runs / (time.perf_counter() - started))
        cpu_per_run.append((cpu() - spent) / max(1, runs))
    stop.set()
    await asyncio.gather(*tasks)
    if counter.errors:
        raise RuntimeError(f"{len(counter.errors)} failed runs, e.g. {counter.errors[:3]}")
    return rates, cpu_per_run


def measure(store: str, clients: list[int], warmup: float, windows: int, window: float):
    results = {}
    for round_trip in (False, True):
        with (
            scripted_backend(TOKENS, tool_round_trip=round_trip) as backend_url,
            threadline(store, backend_url) as server,
        ):
            assistant = httpx.post(
                f"{server.base_url}/assistants",
                json={"model": "bench", "tools": [{"type": "function", "function": {
                    "name": "lookup", "parameters": {"type": "object"}}}]},
            ).json()  # fmt: skip
            for n in clients:
                results[(round_trip, n)] = asyncio.run(
                    load([server.base_url], assistant["id"], n, round_trip, warmup, windows,
                         window, [server_pid(server)])
                )  # fmt: skip
    return results


def report(opening: str, results, args) -> str:
    lines = [
        "## 2. Throughput with an instant backend",
        "",
        opening,
        "",
        f"Clients: asyncio tasks in the benchmark's process, one connection each, each run a "
        f"streamed `POST /threads/runs` read to its end (a round trip adds a streamed "
        f"`submit_tool_outputs`). The backend answers at once ({TOKENS} tokens, or a tool call "
        f"then text). {args.warmup:.0f} s warm-up, then {args.windows} windows of "
        f"{args.window:.0f} s: median (min-max) over the windows. CPU: the server process's "
        f"user+system seconds per completed run (the backend and the clients share the same "
        f"2 cores).",
        "",
        "| store | flow | clients | runs/s | server CPU ms per run | target |",
        "|---|---|---|---|---|---|",
    ]
    for store, measured in results.items():
        for (round_trip, n), (rates, cpu) in measured.items():
            flow = "tool round trip" if round_trip else "plain run"
            target = ""
            if store == "sqlite" and not round_trip and n == 64:
                target = f"≥ 300 runs/s: {verdict(statistics.median(rates) >= 300)}"
            lines.append(
                f"| {store} | {flow} | {n} | {spread(rates)} | {spread(cpu, 1000)} | {target} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=STORES)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--window", type=float, default=5.0)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    results = {
        store: measure(store, args.clients, args.warmup, args.windows, args.window)
        for store in args.stores
    }
    emit("throughput", report(opening, results, args), args.write)


if __name__ == "__main__":
    main()
