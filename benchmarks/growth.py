"""Growth: one page of 100 from each list (run steps, messages, runs) at the start, the middle
and the end of its cursor range, with a small and with a large number of rows; the ratio of
the two sizes (flat is the goal: keyset pagination served from an index).

For each size a fresh database (the migrations, then the rows) holds one project (the one
local mode serves), one assistant and one thread with N messages and N completed runs; the
newest run has N steps. Ids are made as the server makes them (`threadline.ids`), from
synthetic, increasing times spread over the last 7 days, so cursors place themselves as they
do for real rows. Rows go in by bulk inserts of 10,000 per transaction (SQLAlchemy Core
executemany on SQLite; COPY on PostgreSQL, about twice as fast), then `ANALYZE` /
`VACUUM ANALYZE`. Then `threadline serve` starts on each size's database (both stay up) and
the official SDK (`openai`, in this process) lists with the default order (newest first) and
`limit=100`: at the start (no cursor), the middle (`after` the row at list position N/2) and
the end (`after` the row at list position N-101 from 0: the last 100). Every page is checked:
100 items, the expected first and last ids, `has_more`. The 18 (list, position, size) cases
take turns, so that a change in the load of the (shared) machine falls on both sizes alike:
3 warm-up rounds, then `--repeat` timed ones. Prints each list's query plan per size.

    .venv/bin/python benchmarks/growth.py [--rows-small 1000] [--rows-large 1000000]
        [--repeat 20] [--stores sqlite postgres] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common import STORES, Server, database, emit, spread, stamp, verdict
from openai import OpenAI
from sqlalchemy import JSON, Table, insert, text
from tests.support.store import run_fields

from threadline import ids
from threadline.assistants.models import Assistant
from threadline.db.engine import Database
from threadline.db.keyset import PageQuery, page_statement
from threadline.db.migrate import upgrade
from threadline.projects import service as projects
from threadline.runs.models import Run, RunStep
from threadline.threads.models import Message, Thread
from threadline.threads.schemas import text_part

LISTS = ("run steps", "messages", "runs")
POSITIONS = ("start", "middle", "end")
PAGE = 100
WARMUP = 3
TARGET = 1.5
BATCH = 10_000
SPAN_US = 7 * 86_400 * 1_000_000  # rows are spread over the last 7 days
MODEL = "bench"
INSTRUCTIONS = "You are a helpful assistant."
TEXT = "Row {} of the growth benchmark: a message of a realistic length, about a hundred chars."
USAGE = {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}
# Coprime to 62 (odd, not a multiple of 31): i -> i * MIXER mod 62**15 is one-to-one, so the
# ids' "random" part is unique.
MIXER = 0x9E3779B97F4A7C15

warnings.filterwarnings("ignore", "The Assistants API is deprecated", DeprecationWarning)


# -- the rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """Row i of a list of n: its creation time and its id (prefix, time, 15 "random" chars),
    computable again at any time, so that nothing but n needs keeping."""

    n: int
    start_us: int

    def micros(self, i: int) -> int:
        return self.start_us + i * (SPAN_US // self.n)

    def created_at(self, i: int) -> int:
        return self.micros(i) // 1_000_000

    def id(self, prefix: str, i: int) -> str:
        return prefix + ids._encode(self.micros(i), 9) + ids._encode((i + 1) * MIXER % 62**15, 15)


@dataclass
class Scope:
    n: int
    timeline: Timeline
    thread_id: str = ""
    assistant_id: str = ""
    steps_run_id: str = ""
    seed_seconds: float = 0.0
    analyze_seconds: float = 0.0
    plans: dict[str, str] = field(default_factory=dict)


def message_rows(scope: Scope) -> Iterator[dict[str, Any]]:
    t = scope.timeline
    for i in range(scope.n):
        at = t.created_at(i)
        user = i % 2 == 0
        yield {
            "id": t.id(ids.MESSAGE, i),
            "thread_id": scope.thread_id,
            "created_at": at,
            "role": "user" if user else "assistant",
            "content": [text_part(TEXT.format(i))],
            "attachments": [],
            "assistant_id": None if user else scope.assistant_id,
            "run_id": None,
            "status": "completed",
            "incomplete_details": None,
            "completed_at": at,
            "incomplete_at": None,
            "metadata": {},
        }


def run_rows(scope: Scope) -> Iterator[dict[str, Any]]:
    t = scope.timeline
    for i in range(scope.n):
        at = t.created_at(i)
        fields = run_fields(
            scope.thread_id,
            scope.assistant_id,
            id=t.id(ids.RUN, i),
            created_at=at,
            started_at=at,
            completed_at=at,
            model=MODEL,
            instructions=INSTRUCTIONS,
            usage=USAGE,
            recoveries=0,
        )
        fields["metadata"] = fields.pop("metadata_")  # by column, for a Core insert
        yield fields


def step_rows(scope: Scope) -> Iterator[dict[str, Any]]:
    t = scope.timeline
    for i in range(scope.n):
        at = t.created_at(i)
        yield {
            "id": t.id(ids.STEP, i),
            "run_id": scope.steps_run_id,
            "thread_id": scope.thread_id,
            "assistant_id": scope.assistant_id,
            "created_at": at,
            "type": "message_creation",
            "status": "completed",
            "step_details": {
                "type": "message_creation",
                "message_creation": {"message_id": t.id(ids.MESSAGE, i)},
            },
            "last_error": None,
            "expired_at": None,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": at,
            "metadata": {},
            "usage": USAGE,
            "inputs": None,
        }


def batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


# -- seeding -----------------------------------------------------------------------------------


async def copy_rows(db: Database, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    """PostgreSQL: COPY (binary) through asyncpg, one transaction per batch."""
    columns = [column.name for column in table.columns]
    json_columns = {c.name for c in table.columns if isinstance(c.type, JSON)}

    def record(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(
            json.dumps(row[c]) if c in json_columns and row[c] is not None else row[c]
            for c in columns
        )

    async with db.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        for batch in batches(rows):
            async with raw.transaction():
                await raw.copy_records_to_table(
                    table.name, records=[record(row) for row in batch], columns=columns
                )


async def insert_rows(db: Database, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    if not db.is_sqlite:
        await copy_rows(db, table, rows)
        return
    for batch in batches(rows):
        async with db.engine.begin() as connection:
            await connection.execute(insert(table), batch)


async def seed(url: str, n: int) -> Scope:
    """The project local mode serves, one assistant, one thread with n messages and n runs,
    n steps in the newest run; then the planner's statistics."""
    now_us = time.time_ns() // 1000
    scope = Scope(n, Timeline(n, now_us - SPAN_US - 3_600_000_000))
    db = Database(url)
    try:
        started = time.perf_counter()
        project_id = await projects.project_id_for(db, projects.DEFAULT_PROJECT)
        scope.assistant_id, at = ids.mint(ids.ASSISTANT)
        scope.thread_id = scope.timeline.id(ids.THREAD, 0)
        scope.steps_run_id = scope.timeline.id(ids.RUN, n - 1)
        async with db.write() as session:
            session.add(
                Assistant(
                    id=scope.assistant_id,
                    project_id=project_id,
                    created_at=at,
                    model=MODEL,
                    name="growth",
                    description=None,
                    instructions=INSTRUCTIONS,
                    tools=[],
                    tool_resources={},
                    metadata_={},
                    temperature=1.0,
                    top_p=1.0,
                    response_format="auto",
                    reasoning_effort=None,
                )
            )
            session.add(
                Thread(
                    id=scope.thread_id,
                    project_id=project_id,
                    created_at=scope.timeline.created_at(0),
                    tool_resources={},
                    metadata_={},
                )
            )
        await insert_rows(db, Message.__table__, message_rows(scope))
        await insert_rows(db, Run.__table__, run_rows(scope))
        await insert_rows(db, RunStep.__table__, step_rows(scope))
        scope.seed_seconds = time.perf_counter() - started
        started = time.perf_counter()
        if db.is_sqlite:
            async with db.engine.begin() as connection:
                await connection.exec_driver_sql("ANALYZE")
        else:
            async with db.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.exec_driver_sql("VACUUM ANALYZE")
        scope.analyze_seconds = time.perf_counter() - started
        scope.plans = await plans(db, scope)
    finally:
        await db.dispose()
    return scope


async def plans(db: Database, scope: Scope) -> dict[str, str]:
    """The query plan of each list's page query at the middle of its range."""
    found = {}
    for name, model, where in (
        ("run steps", RunStep, [RunStep.run_id == scope.steps_run_id]),
        ("messages", Message, [Message.thread_id == scope.thread_id]),
        ("runs", Run, [Run.thread_id == scope.thread_id]),
    ):
        cursor = expected(scope, name, "middle")[0]
        statement = page_statement(model, where, PageQuery(limit=PAGE, after=cursor))
        sql = str(
            statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
        )
        explain = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (COSTS OFF) "
        async with db.engine.connect() as connection:
            rows = (await connection.execute(text(explain + sql))).all()
        found[name] = "\n".join(str(row[-1]) for row in rows)
    return found


# -- timing ------------------------------------------------------------------------------------

PREFIXES = {"run steps": ids.STEP, "messages": ids.MESSAGE, "runs": ids.RUN}


def expected(scope: Scope, name: str, position: str) -> tuple[str | None, str, str, bool]:
    """(cursor, first id, last id, has_more) of the page at `position`, newest first: list
    position k is row n-1-k in creation order."""
    n, prefix = scope.n, PREFIXES[name]

    def at(k: int) -> str:
        return scope.timeline.id(prefix, n - 1 - k)

    if position == "start":
        return None, at(0), at(PAGE - 1), n > PAGE
    cursor_position = n // 2 if position == "middle" else n - PAGE - 1
    return (
        at(cursor_position),
        at(cursor_position + 1),
        at(cursor_position + PAGE),
        cursor_position + PAGE < n - 1,
    )


def lister(client: OpenAI, scope: Scope, name: str) -> Callable[..., Any]:
    threads = client.beta.threads
    if name == "run steps":
        return lambda **kw: threads.runs.steps.list(
            run_id=scope.steps_run_id, thread_id=scope.thread_id, limit=PAGE, **kw
        )
    if name == "messages":
        return lambda **kw: threads.messages.list(thread_id=scope.thread_id, limit=PAGE, **kw)
    return lambda **kw: threads.runs.list(thread_id=scope.thread_id, limit=PAGE, **kw)


Timings = dict[tuple[str, str], list[float]]


def time_lists(served: list[tuple[str, Scope]], repeat: int) -> list[Timings]:
    """Seconds per page, for each (base URL, scope); every size's cases take turns, so that
    a change in the machine's load falls on all of them alike."""
    cases = []
    for size, (base_url, scope) in enumerate(served):
        client = OpenAI(base_url=base_url, api_key="local", max_retries=0)
        cases += [
            (name, position, size, scope, lister(client, scope, name))
            for name in LISTS
            for position in POSITIONS
        ]
    cases.sort(key=lambda case: (LISTS.index(case[0]), POSITIONS.index(case[1]), case[2]))
    timings: list[Timings] = [{} for _ in served]
    for round_ in range(WARMUP + repeat):
        for name, position, size, scope, list_ in cases:
            cursor, first, last, more = expected(scope, name, position)
            kwargs = {"after": cursor} if cursor else {}
            started = time.perf_counter()
            page = list_(**kwargs)
            elapsed = time.perf_counter() - started
            got = (len(page.data), page.data[0].id, page.data[-1].id, page.has_more)
            if got != (PAGE, first, last, more):
                raise RuntimeError(
                    f"{name} at the {position} of {scope.n:,} rows: got (items, first, last, "
                    f"has_more) {got}, expected {(PAGE, first, last, more)}"
                )
            if round_ >= WARMUP:
                timings[size].setdefault((name, position), []).append(elapsed)
    return timings


@dataclass
class Measured:
    scopes: list[Scope]
    timings: list[Timings]
    measure_seconds: float


def measure(store: str, sizes: list[int], repeat: int) -> Measured:
    """A database and a server per size, side by side, then the lists of all sizes in turn."""
    with contextlib.ExitStack() as stack:
        served = []
        for n in sizes:
            url, data_dir = stack.enter_context(database(store))
            upgrade(url)
            scope = asyncio.run(seed(url, n))
            print(
                f"{store}, {n:,} rows per list: seeded in {scope.seed_seconds:.1f} s, "
                f"analyzed in {scope.analyze_seconds:.1f} s",
                flush=True,
            )
            for name, plan in scope.plans.items():
                print(f"  plan, {name}: " + plan.replace("\n", "\n    "), flush=True)
            server = Server(database_url=url, data_dir=data_dir).start()
            stack.callback(server.stop)
            served.append((server.base_url, scope))
        started = time.perf_counter()
        timings = time_lists(served, repeat)
        elapsed = time.perf_counter() - started
        print(f"{store}: lists timed in {elapsed:.0f} s", flush=True)
        return Measured([scope for _, scope in served], timings, elapsed)


# -- the report --------------------------------------------------------------------------------


def report(opening: str, results: dict[str, Measured], args: argparse.Namespace) -> str:
    small, large = f"{args.rows_small:,}", f"{args.rows_large:,}"
    lines = [
        "## 3. Growth: lists with 1 thousand and with 1 million rows",
        "",
        opening,
        "",
        f"A fresh database per size: one thread with N messages and N completed runs, N steps "
        f"in its newest run (ids and times made as the server makes them, spread over 7 "
        f"days), bulk inserted, then `ANALYZE` (SQLite) / `VACUUM ANALYZE` (PostgreSQL); a "
        f"server on each. The official SDK lists a page of {PAGE}, newest first, at the start "
        f"(no cursor), the middle (`after` the row at N/2) and the end (the last {PAGE}); "
        f"every page is checked (ids, `has_more`). The 18 cases (both sizes) take turns: "
        f"{WARMUP} warm-up rounds, then {args.repeat} timed; milliseconds, median (min-max). "
        f"Target: the median at {large} rows at most {TARGET} times the median at {small}.",
        "",
        f"| store | list | position | {small} rows | {large} rows | ratio | ≤ {TARGET} |",
        "|---|---|---|---|---|---|---|",
    ]
    for store, measured in results.items():
        a, b = measured.timings
        for name in LISTS:
            for position in POSITIONS:
                x, y = a[(name, position)], b[(name, position)]
                ratio = statistics.median(y) / statistics.median(x)
                lines.append(
                    f"| {store} | {name} | {position} | {spread(x, 1000)} | {spread(y, 1000)} "
                    f"| **{ratio:.2f}** | {verdict(ratio <= TARGET)} |"
                )
    lines += ["", f"Seeding {large} rows per list ({3 * args.rows_large:,} rows in all):", ""]
    for store, measured in results.items():
        scope = measured.scopes[-1]
        analyze = "ANALYZE" if store == "sqlite" else "VACUUM ANALYZE"
        lines.append(
            f"- {store}: {scope.seed_seconds:.0f} s ({3 * scope.n / scope.seed_seconds:,.0f} "
            f"rows/s), then {scope.analyze_seconds:.0f} s of {analyze}; the timed lists (both "
            f"sizes) {measured.measure_seconds:.0f} s."
        )
    lines += ["", f"Plan of the messages page query at {large} rows (middle):", ""]
    for store, measured in results.items():
        plan = ["  " + line for line in measured.scopes[-1].plans["messages"].splitlines()]
        lines += [f"- {store}:", "", "  ```", *plan, "  ```", ""]
    return "\n".join(lines).rstrip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-small", type=int, default=1_000)
    parser.add_argument("--rows-large", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=STORES)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    if min(args.rows_small, args.rows_large) < 2 * PAGE + 2:
        parser.error(f"each size needs at least {2 * PAGE + 2} rows")
    results = {
        store: measure(store, [args.rows_small, args.rows_large], args.repeat)
        for store in args.stores
    }
    emit("growth", report(opening, results, args), args.write)


if __name__ == "__main__":
    main()
