"""Streams: the server's memory and CPU with 1,000 concurrently open SSE streams.

The backend is the scripted OpenAI-compatible server in its own process. It answers each
chat completion at once with its first (role) chunk, then holds the reply back for
`--first-token-ms` (60 s) before the text: 20 tokens at 20 tokens/s. So every run, once
its model call is under way, sits with its stream open and nothing to send.

Threadline (`threadline serve`, one process, on loopback) runs with
`THREADLINE_MAX_CONCURRENT_RUNS` raised above N, so that no run waits for an executor slot.
A models file sends the model `warm` to a second, instant, scripted backend: 24 runs
through it warm the server up (connections, caches, query plans) before the idle reading;
every measured run uses the slow backend. By default the runs' model calls go through the
server's one HTTP client for that backend, which holds at most 512 connections
(src/threadline/backends/openai_http.py): with N above that, the other calls wait in its
pool, and their text comes one delay later. `--backends K` spreads the calls over K
entries of the models file that all name the same backend, each with its own client, so
that (with K x 512 >= N) none waits.

The client is this process: N asyncio tasks on one `httpx.AsyncClient` with room for N
connections, each a streamed `POST /threads/runs` (a new thread with one message) read line
by line to its end, with raw SSE parsing (only the run events' JSON is decoded). All N are
started at once. Readings of the server process (/proc: VmRSS, VmHWM, user+system CPU of
all its threads) are taken:

- idle: after the warm-up, before any stream;
- opening: from the first request until every stream has had `thread.run.in_progress`
  (at most one delay), then `--settle` seconds, then until the server's CPU is quiet (under
  20% of a core over a second; at most `--quiet` seconds): CPU per stream opened;
- holding, for `--hold` seconds: the highest RSS, the CPU seconds per second (the idle cost
  of open streams), the streams open all through it (had `in_progress`, not ended), the
  established TCP connections on the server's port (from /proc/net/tcp: the N streams are
  open at once) and on the backend's port (the server's model calls in flight);
- text: from the end of the hold until every stream has ended (CPU per run);
- after: RSS once every run has ended, and the peak (VmHWM) over the server's life.

Every run must end with `thread.run.completed` and `data: [DONE]`; any other ending, an
error, or a stream that never ends (cancelled once every stream left open is one whose run
never had `in_progress`, after 15 s without progress) is counted and reported. The hold must
end before any stream sees its first text delta: if one does, the report says so (raise
`--first-token-ms`).

Each repeat starts a fresh server (and database) and backends. Figures are median
(min-max) over the repeats. Memory in MiB (2^20 bytes); the target is in MB (10^6 bytes),
compared as MiB x 1.048576, on the worst repeat, and is met only if all N streams were open
at once. The client's CPU (`time.process_time()` of this process) is reported too: it
shares the machine's cores with the server and the backends.

    .venv/bin/python benchmarks/streams.py [--streams 1000] [--repeat 3]
        [--stores sqlite postgres] [--backends 1] [--first-token-ms 60000] [--hold 10]
        [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from common import (
    STORES,
    cpu_seconds,
    emit,
    rss_mib,
    scripted_backend,
    server_pid,
    spread,
    stamp,
    threadline,
    verdict,
)

TOKENS, RATE = 20, 20.0
WARM_MODEL = "warm"
TARGET_MB, TARGET_STREAMS = 300.0, 1000
BACKEND_CONNECTIONS = 512  # httpx.Limits of OpenAIHTTPBackend
MB_PER_MIB = 2**20 / 10**6


# -- readings ----------------------------------------------------------------------------------


def hwm_mib(pid: int) -> float:
    """The process's peak RSS so far (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def established(port: int) -> int:
    """Established TCP connections whose local end is `port` (loopback included)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    count += 1
    return count


@dataclass
class Stream:
    """One client stream's timeline (perf_counter seconds) and ending."""

    in_progress: float | None = None
    first_delta: float | None = None
    ended: float | None = None
    last_run_event: str = ""
    status: str = ""
    done: bool = False  # `data: [DONE]` came
    error: str = ""

    def is_open(self) -> bool:
        return self.in_progress is not None and self.ended is None

    def failure(self) -> str | None:
        if self.status == "completed" and self.done and not self.error:
            return None
        ending = f"{self.last_run_event or 'no run event'} ({self.status or '-'})"
        if self.ended is None:
            return f"never ended, last {ending}"
        return f"ended after {ending}{', no [DONE]' if not self.done else ''}: {self.error}"


@dataclass
class Progress:
    """Streams that are open (had `thread.run.in_progress`) or already over."""

    n: int
    settled: int = 0
    all_settled: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        self.settled += 1
        if self.settled >= self.n:
            self.all_settled.set()


@dataclass
class Repeat:
    """One repeat's figures (a fresh server)."""

    streams: int
    open_s: float  # until every stream had thread.run.in_progress (or ended)
    busy_s: float  # then until the server's CPU went quiet
    rss_idle: float
    rss_open: float  # the highest reading while holding
    hwm: float
    rss_after: float
    open_cpu_ms: float  # server CPU per stream, first request to quiet
    hold_cpu_share: float  # server CPU seconds per second while holding
    text_cpu_ms: float  # server CPU per run, end of hold to the last stream's end
    total_cpu_ms: float  # server CPU per run, first request to the last stream's end
    client_cpu_ms: float  # this process's CPU per run, the same span
    open_streams: int  # streams open (in_progress, not ended) through the whole hold
    tcp_open: int  # established connections on the server's port while holding
    backend_open: int  # established connections on the backend's port while holding
    completed: int
    waited_for_backend: int  # first token a whole delay late: the call waited for a connection
    overlap: int  # streams whose text began before the hold ended
    wall_s: float  # first request to the last stream's end
    failures: list[str]


async def one_stream(client: httpx.AsyncClient, body: dict, stream: Stream, progress: Progress):
    event = ""
    try:
        async with client.stream("POST", "/threads/runs", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {(await response.aread())[:200]!r}")
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                    if event == "thread.run.in_progress" and stream.in_progress is None:
                        stream.in_progress = time.perf_counter()
                        progress.settle()
                    elif event == "thread.message.delta" and stream.first_delta is None:
                        stream.first_delta = time.perf_counter()
                elif line.startswith("data: "):
                    if line == "data: [DONE]":
                        stream.done = True
                    elif event.startswith("thread.run.") and not event.startswith("thread.run.s"):
                        run = json.loads(line[6:])
                        stream.last_run_event, stream.status = event, run.get("status", "")
                        if run.get("last_error"):
                            stream.error = f"{run['last_error']}"[:300]
    except asyncio.CancelledError:
        raise  # still open at the deadline: `ended` stays None
    except Exception as error:  # counted and reported, never hidden
        stream.error = repr(error)[:300]
    stream.ended = time.perf_counter()
    if stream.in_progress is None:
        progress.settle()


async def warm_up(client: httpx.AsyncClient, assistant_id: str, rounds: int = 3, width: int = 8):
    body = {
        "assistant_id": assistant_id,
        "model": WARM_MODEL,
        "thread": {"messages": [{"role": "user", "content": "hi"}]},
        "stream": True,
    }
    for _ in range(rounds):
        streams = [Stream() for _ in range(width)]
        progress = Progress(width)
        await asyncio.gather(*(one_stream(client, body, s, progress) for s in streams))
        bad = [s.failure() for s in streams if s.failure()]
        if bad:
            raise RuntimeError(f"warm-up runs did not complete: {bad[:3]}")


async def quiet(pid: int, cap: float, share: float = 0.2) -> None:
    """Wait (at most `cap` seconds) until the process uses under `share` of a core."""
    deadline = time.perf_counter() + cap
    while time.perf_counter() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(1.0)
        if cpu_seconds(pid) - before < share:
            return


async def finish(tasks: list[asyncio.Task], streams: list[Stream], deadline: float) -> None:
    """Wait for the streams to end: at most `deadline` seconds (a call that waited for a
    backend connection takes one more delay), and no longer than 15 s without progress once
    every stream still open is one that never had `thread.run.in_progress` (its run is
    stranded). Streams still open then are cancelled and reported as never ended."""
    pending = set(tasks)
    ends = time.perf_counter() + deadline
    last_progress = time.perf_counter()
    while pending and time.perf_counter() < ends:
        done, pending = await asyncio.wait(pending, timeout=5)
        if done:
            last_progress = time.perf_counter()
        stranded = all(s.in_progress is None for s in streams if s.ended is None)
        if stranded and time.perf_counter() - last_progress > 15:
            break
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def hold_and_measure(
    base_url: str, assistant_id: str, args: argparse.Namespace, pid: int, server_port: int,
    backend_port: int,
) -> Repeat:  # fmt: skip
    n, first_token = args.streams, args.first_token_ms / 1000
    limits = httpx.Limits(max_connections=n + 50, max_keepalive_connections=n + 50)
    timeout = httpx.Timeout(connect=120, read=None, write=120, pool=600)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        await warm_up(client, assistant_id)
        await asyncio.sleep(2.0)
        rss_idle = rss_mib(pid)

        streams = [Stream() for _ in range(n)]
        bodies = [
            {
                "assistant_id": assistant_id,
                "thread": {"messages": [{"role": "user", "content": "hi"}]},
                "stream": True,
                **({"model": f"bench-{i % args.backends}"} if args.backends > 1 else {}),
            }
            for i in range(n)
        ]
        progress = Progress(n)
        cpu_start, client_start = cpu_seconds(pid), time.process_time()
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(one_stream(client, body, stream, progress))
            for body, stream in zip(bodies, streams, strict=True)
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(progress.all_settled.wait(), timeout=first_token)
        open_s = time.perf_counter() - started
        await asyncio.sleep(args.settle)  # the executors get to their model calls
        await quiet(pid, args.quiet)
        busy_s = time.perf_counter() - started - open_s
        cpu_open = cpu_seconds(pid)

        tcp_open, backend_open = established(server_port), established(backend_port)
        rss_open = rss_mib(pid)
        opened = {id(s) for s in streams if s.is_open()}
        cpu_hold, hold_start = cpu_seconds(pid), time.perf_counter()
        while (left := args.hold - (time.perf_counter() - hold_start)) > 0:
            await asyncio.sleep(min(0.5, left))
            rss_open = max(rss_open, rss_mib(pid))
        cpu_held, hold_end = cpu_seconds(pid), time.perf_counter()
        tcp_open = min(tcp_open, established(server_port))
        backend_open = min(backend_open, established(backend_port))
        open_streams = sum(id(s) in opened and s.is_open() for s in streams)

        await finish(tasks, streams, deadline=2 * first_token + 120)
        ended = time.perf_counter()
        cpu_end, client_end = cpu_seconds(pid), time.process_time()
    await asyncio.sleep(1.0)

    # A call that waited for a backend connection began when an earlier run's call ended:
    # its first token comes about one delay after the earliest first token, not with it.
    deltas = [s.first_delta for s in streams if s.first_delta is not None]
    waited = sum(d > min(deltas) + 0.75 * first_token for d in deltas) if deltas else 0
    return Repeat(
        streams=n,
        open_s=open_s,
        busy_s=busy_s,
        rss_idle=rss_idle,
        rss_open=rss_open,
        hwm=hwm_mib(pid),
        rss_after=rss_mib(pid),
        open_cpu_ms=(cpu_open - cpu_start) / n * 1000,
        hold_cpu_share=(cpu_held - cpu_hold) / (hold_end - hold_start),
        text_cpu_ms=(cpu_end - cpu_held) / n * 1000,
        total_cpu_ms=(cpu_end - cpu_start) / n * 1000,
        client_cpu_ms=(client_end - client_start) / n * 1000,
        open_streams=open_streams,
        tcp_open=tcp_open,
        backend_open=backend_open,
        completed=sum(s.failure() is None for s in streams),
        waited_for_backend=waited,
        overlap=sum(s.first_delta is not None and s.first_delta < hold_end for s in streams),
        wall_s=ended - started,
        failures=[f for s in streams if (f := s.failure())],
    )


def models_file(path: Path, warm_url: str, backend_url: str, backends: int) -> None:
    """`warm` to the instant backend; with `backends` > 1, `bench-<i>` to as many backend
    entries (each its own HTTP client) that all name the slow backend."""
    text = f'[backends.{WARM_MODEL}]\nbase_url = "{warm_url}"\n'
    for i in range(backends if backends > 1 else 0):
        text += f'\n[backends.slow{i}]\nbase_url = "{backend_url}"\n'
    text += f'\n[[models]]\nname = "{WARM_MODEL}"\nbackend = "{WARM_MODEL}"\n'
    for i in range(backends if backends > 1 else 0):
        text += f'\n[[models]]\nname = "bench-{i}"\nbackend = "slow{i}"\nserved_name = "bench"\n'
    path.write_text(text)


def measure(store: str, args: argparse.Namespace) -> list[Repeat]:
    repeats = []
    for index in range(args.repeat):
        with (
            tempfile.TemporaryDirectory(prefix="threadline-streams-") as tmp,
            scripted_backend(TOKENS, args.first_token_ms, RATE) as backend_url,
            scripted_backend(TOKENS) as warm_url,
        ):
            models = Path(tmp) / "models.toml"
            models_file(models, warm_url, backend_url, args.backends)
            env = {
                "THREADLINE_MAX_CONCURRENT_RUNS": str(max(2000, 2 * args.streams)),
                "THREADLINE_MODELS": str(models),
            }
            with threadline(store, backend_url, **env) as server:
                assistant = httpx.post(f"{server.base_url}/assistants", json={"model": "bench"})
                assistant.raise_for_status()
                repeat = asyncio.run(
                    hold_and_measure(
                        server.base_url, assistant.json()["id"], args, server_pid(server),
                        server.port, urlsplit(backend_url).port or 0,
                    )
                )  # fmt: skip
        repeats.append(repeat)
        print(
            f"{store} #{index + 1}: {repeat.completed}/{repeat.streams} completed, "
            f"{repeat.open_streams} open through the hold, RSS {repeat.rss_idle:.0f} -> "
            f"{repeat.rss_open:.0f} MiB (peak {repeat.hwm:.0f}), {repeat.wall_s:.0f} s",
            flush=True,
        )
        for failure in sorted(set(repeat.failures))[:5]:
            print(f"  failure: {failure}", flush=True)
    return repeats


# -- the report --------------------------------------------------------------------------------


def counts(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{statistics.median(values):.0f} ({low}-{high})"


def report(opening: str, results: dict[str, list[Repeat]], args: argparse.Namespace) -> str:
    n, stores = args.streams, list(results)

    def row(label: str, cell) -> str:
        return f"| {label} | " + " | ".join(cell(results[s]) for s in stores) + " |"

    def figure(attr: str, scale: float = 1.0, digits: int = 1):
        return lambda reps: spread([getattr(r, attr) for r in reps], scale, digits)

    def number(attr: str):
        return lambda reps: counts([getattr(r, attr) for r in reps])

    def per_stream_kib(reps: list[Repeat]) -> str:
        return spread([(r.rss_open - r.rss_idle) * 1024 / r.streams for r in reps], digits=0)

    if args.backends > 1:
        calls = (
            f"The runs' model calls are spread over {args.backends} entries of a models file "
            f"that all name that backend, each with its own HTTP client, so that none waits "
            f"for one of a client's {BACKEND_CONNECTIONS} connections."
        )
    else:
        calls = (
            f"All model calls go to that backend through the server's one HTTP client, which "
            f"holds at most {BACKEND_CONNECTIONS} connections: the other calls wait in its "
            f"pool (their streams are open all the same) and get their text a delay later."
        )
    lines = [
        f"## 4. Streams: {n:,} concurrently open SSE streams",
        "",
        opening,
        "",
        f"{n:,} streamed `POST /threads/runs` (a new thread, one message) opened at once from "
        f"one process (asyncio tasks, one httpx client, a connection each, raw SSE parsing), "
        f"against `threadline serve` with `THREADLINE_MAX_CONCURRENT_RUNS` above {n}. The "
        f"scripted backend (its own process) sends its first chunk at once and the text "
        f"({TOKENS} tokens at {RATE:.0f}/s) after {args.first_token_ms / 1000:.0f} s, so the "
        f"streams stay open with nothing to send. {calls} Once every stream has had "
        f"`thread.run.in_progress` and the server's CPU has gone quiet (under 20% of a core), "
        f"the streams are held open for {args.hold:.0f} s, then run to their end. Readings of "
        f"the server process (/proc: VmRSS, VmHWM, user+system CPU) and of /proc/net/tcp; "
        f"warm-up: 24 runs through an instant backend. {args.repeat} repeats, each with a "
        f"fresh server: median (min-max). MiB = 2^20 bytes. The client and the backends share "
        f"the machine's cores with the server.",
        "",
        "| reading | " + " | ".join(stores) + " |",
        "|---|" + "---|" * len(stores),
        row("runs completed", lambda reps: counts([r.completed for r in reps]) + f" of {n}"),
        row("streams open through the hold (had `in_progress`, not ended)", number("open_streams")),
        row("established TCP connections on the server's port, holding", number("tcp_open")),
        row("time until every stream had `in_progress`, s", figure("open_s")),
        row("then until the server's CPU went quiet, s", figure("busy_s")),
        row("server RSS idle, after warm-up, MiB", figure("rss_idle")),
        row(f"**server RSS with {n:,} streams open**, MiB", figure("rss_open")),
        row("(RSS with the streams open - RSS idle) / N, KiB", per_stream_kib),
        row("server peak RSS (VmHWM, whole life), MiB", figure("hwm")),
        row("server RSS after every run ended, MiB", figure("rss_after")),
        row("server CPU per stream opened (to quiet), ms", figure("open_cpu_ms")),
        row(f"server CPU holding {n:,} open streams, % of one core", figure("hold_cpu_share", 100)),
        row("server CPU per run, end of hold to the last end, ms", figure("text_cpu_ms")),
        row("server CPU per run, all phases, ms", figure("total_cpu_ms")),
        row("client CPU per run (this process), ms", figure("client_cpu_ms")),
        row("connections on the backend's port, holding", number("backend_open")),
        row("runs whose text came a delay late (call waited for a connection)",
            number("waited_for_backend")),
        row("wall time, first request to the last stream's end, s", figure("wall_s", digits=0)),
        "",
    ]  # fmt: skip
    for store, reps in results.items():
        worst = max(r.rss_open for r in reps) * MB_PER_MIB
        peak = max(r.hwm for r in reps) * MB_PER_MIB
        all_open = all(r.open_streams == n for r in reps)
        if n >= TARGET_STREAMS:
            ok = verdict(worst < TARGET_MB and all_open)
            lines.append(
                f"Target ({store}): {TARGET_STREAMS:,} open streams under {TARGET_MB:.0f} MB "
                f"of server RSS: worst repeat {worst:.0f} MB with the streams open (peak "
                f"over the server's life {peak:.0f} MB): {ok}"
                + ("." if all_open else f", not all {n:,} streams were open at once.")
            )
        else:
            lines.append(
                f"Target ({store}): for {TARGET_STREAMS:,} streams; with {n:,}, worst repeat "
                f"{worst:.0f} MB with the streams open (peak {peak:.0f} MB)."
            )
    notes = []
    if any(r.overlap for reps in results.values() for r in reps):
        notes.append(
            "**Some streams had text before the hold ended** (raise `--first-token-ms`): "
            + ", ".join(f"{s}: {[r.overlap for r in reps]}" for s, reps in results.items())
        )
    for store, reps in results.items():
        failed = collections.Counter(f for r in reps for f in r.failures)
        if failed:
            kinds = "; ".join(f"{count} x {what}" for what, count in failed.most_common(4))
            notes.append(
                f"**Runs that did not complete ({store})**: {sum(failed.values())} over "
                f"{len(reps)} repeats: {kinds}."
            )
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=STORES)
    parser.add_argument("--first-token-ms", type=float, default=60000.0)
    parser.add_argument("--settle", type=float, default=2.0, help="s after all are open")
    parser.add_argument("--quiet", type=float, default=20.0, help="s at most, then until quiet")
    parser.add_argument(
        "--backends", type=int, default=1, help="backend entries to spread the calls over"
    )
    parser.add_argument("--hold", type=float, default=10.0, help="s of holding, measured")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    results = {store: measure(store, args) for store in args.stores}
    emit("streams", report(opening, results, args), args.write)


if __name__ == "__main__":
    main()
