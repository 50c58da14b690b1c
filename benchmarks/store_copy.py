"""`threadline store copy` speed: a synthetic SQLite store copied to PostgreSQL (or SQLite).

The store (the migrations, then bulk inserts straight into SQLite) holds one project, one
assistant, `--threads` threads sharing `--messages` messages and `--runs` completed runs,
one vector store with `--chunks` chunks of about 100 words, each with a `--width`-wide
embedding in sqlite-vec and its text in FTS5, and `--files` files of `--file-kib` KiB.
It is copied with the same code as the command (`threadline.store_copy.copy.copy_store`,
verification included) to a fresh PostgreSQL database (`--to postgres`: the service, or
pgserver's with `--to pgvector`) or a SQLite file (`--to sqlite`); prints rows/s and MB/s,
where MB is the source's database file plus its files.

    .venv/bin/python benchmarks/store_copy.py [--messages 50000] [--runs 50000]
        [--chunks 5000] [--width 384] [--files 20] [--to postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import sqlean
import sqlite_vec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.postgres import fresh_database

from threadline.db import migrate
from threadline.store_copy.copy import copy_store

WORDS = [
    "leave", "policy", "travel", "refund", "manager", "approval", "train", "ticket", "flight",
    "doctor", "note", "employee", "days", "year", "march", "unused", "separate", "unlimited",
    "paid", "sick",
]  # fmt: skip


def build(path: Path, files_dir: Path, args: argparse.Namespace) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    connection = sqlean.connect(str(path))
    connection.enable_load_extension(True)
    sqlite_vec.load(connection)
    rng = random.Random(1)
    now = int(time.time())
    empty = json.dumps({})
    with connection:
        connection.execute(
            "INSERT INTO projects(id, name, created_at) VALUES ('proj_bench', 'bench', ?)", (now,)
        )
        connection.execute(
            "INSERT INTO assistants(id, project_id, created_at, model, tools, tool_resources, "
            "metadata) VALUES ('asst_bench', 'proj_bench', ?, 'm', '[]', ?, ?)",
            (now, empty, empty),
        )
        connection.executemany(
            "INSERT INTO threads(id, project_id, created_at, tool_resources, metadata, hidden) "
            "VALUES (?, 'proj_bench', ?, ?, ?, 0)",
            [(f"thread_{t:08d}", now, empty, empty) for t in range(args.threads)],
        )
        connection.executemany(
            "INSERT INTO runs(id, thread_id, assistant_id, created_at, status, model, "
            "instructions, tools, metadata, usage, temperature, parallel_tool_calls, "
            "recoveries, kind, completed_at) VALUES (?, ?, 'asst_bench', ?, 'completed', 'm', "
            "'Be brief.', '[]', ?, ?, 0.7, 1, 0, 'run', ?)",
            [
                (f"run_{r:09d}", f"thread_{r % args.threads:08d}", now + r, empty,
                 json.dumps({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}),
                 now + r)
                for r in range(args.runs)
            ],
        )  # fmt: skip
        for start in range(0, args.messages, 10_000):
            connection.executemany(
                "INSERT INTO messages(id, thread_id, created_at, role, content, status, "
                "metadata, run_id) VALUES (?, ?, ?, ?, ?, 'completed', ?, ?)",
                [
                    (f"msg_{m:09d}", f"thread_{m % args.threads:08d}", now + m,
                     "user" if m % 2 == 0 else "assistant",
                     json.dumps([{"type": "text", "text": {"value": " ".join(
                         rng.choices(WORDS, k=40)), "annotations": []}}]),
                     empty, f"run_{m % max(args.runs, 1):09d}" if m % 2 else None)
                    for m in range(start, min(start + 10_000, args.messages))
                ],
            )  # fmt: skip
        connection.execute(
            "INSERT INTO vector_stores(id, project_id, created_at, name, metadata, embedder, "
            "dimensions) VALUES ('vs_bench', 'proj_bench', ?, 'bench', ?, 'e', ?)",
            (now, empty, args.width),
        )
        connection.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors_{args.width} USING vec0("
            "chunk_id integer primary key, vector_store_id text partition key, "
            f"embedding float[{args.width}] distance_metric=cosine)"
        )
        vectors = np.random.default_rng(1).standard_normal((args.chunks, args.width))
        for c in range(args.chunks):
            body = " ".join(rng.choices(WORDS, k=100))
            connection.execute(
                "INSERT INTO chunks(id, vector_store_id, file_id, position, text, tokens) "
                "VALUES (?, 'vs_bench', ?, ?, ?, 130)",
                (c + 1, f"file_{c % max(args.files, 1):06d}", c, body),
            )
            connection.execute("INSERT INTO chunk_fts(rowid, text) VALUES (?, ?)", (c + 1, body))
            connection.execute(
                f"INSERT INTO chunk_vectors_{args.width}(chunk_id, vector_store_id, embedding) "
                "VALUES (?, 'vs_bench', ?)",
                (c + 1, vectors[c].astype(np.float32).tobytes()),
            )
        files_dir.mkdir(parents=True, exist_ok=True)
        for f in range(args.files):
            file_id = f"file_{f:06d}"
            connection.execute(
                "INSERT INTO files(id, project_id, created_at, filename, purpose, bytes, status) "
                "VALUES (?, 'proj_bench', ?, ?, 'assistants', ?, 'processed')",
                (file_id, now, f"{file_id}.txt", args.file_kib * 1024),
            )
            (files_dir / file_id).write_bytes(os.urandom(args.file_kib * 1024))
    connection.close()


@contextlib.contextmanager
def target(kind: str, where: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{where / 'target' / 'threadline.db'}"
    else:
        with fresh_database(with_pgvector=kind == "pgvector") as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=1_000)
    parser.add_argument("--chunks", type=int, default=5_000)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--file-kib", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--to", choices=("postgres", "pgvector", "sqlite"), default="postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="threadline-copy-bench-") as tmp:
        where = Path(tmp)
        source = where / "source" / "threadline.db"
        started = time.monotonic()
        build(source, where / "source" / "files", args)
        print(f"built the source in {time.monotonic() - started:.1f} s", file=sys.stderr)
        size = source.stat().st_size + sum(
            p.stat().st_size for p in (where / "source" / "files").iterdir()
        )
        with target(args.to, where) as url:
            summary = copy_store(
                f"sqlite+aiosqlite:///{source}",
                url,
                where / "source" / "files",
                where / "target" / "files",
                lambda line: None,
                args.batch,
            )
    rows = summary.rows + summary.vectors
    print(summary.line())
    print(
        f"to {args.to}: {summary.rows} rows + {summary.vectors} vectors "
        f"(width {args.width}) in {summary.seconds:.1f} s, copy and verification: "
        f"{rows / summary.seconds:,.0f} rows/s, {size / 1e6 / summary.seconds:.1f} MB/s "
        f"of a {size / 1e6:.0f} MB store (database file and files)"
    )


if __name__ == "__main__":
    main()
