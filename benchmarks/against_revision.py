"""The overhead benchmark (`overhead.py`) on this tree and on an earlier revision, in turns.

For a change that must not make runs slower (a refactor): the same streamed turn as in
`overhead.py`, served by this checkout's code and by REV's (a temporary `git worktree`),
alternating round by round so that both see the same machine. Each round measures every
store with both trees; the report gives each tree's medians and the ratios after/before.

    .venv/bin/python benchmarks/against_revision.py --rev REV [--rounds 3] [--repeat 20]
        [--stores sqlite postgres] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common import ROOT, STORES, emit, stamp
from overhead import measure

Figures = dict[str, list[float]]


@contextlib.contextmanager
def checkout(rev: str) -> Iterator[Path]:
    """REV's tree, checked out beside this one for as long as the benchmark runs."""
    with tempfile.TemporaryDirectory(prefix="threadline-rev-") as parent:
        path = Path(parent) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), rev],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=True
            )


@contextlib.contextmanager
def serving(src: Path) -> Iterator[None]:
    """Servers started meanwhile import `threadline` from `src` (they inherit PYTHONPATH)."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if before is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = before


def merged(runs: list[Figures]) -> Figures:
    return {key: [v for run in runs for v in run[key]] for key in runs[0]}


def median_ms(values: list[float]) -> float:
    return 1000 * statistics.median(values)


def report(opening: str, rev: str, results: dict[str, dict[str, Figures]], args) -> str:
    lines = [
        f"### Overhead: this tree against {rev}",
        "",
        opening,
        "",
        f"The turn of section 1 (streamed run vs. streamed chat completion straight to the "
        f"scripted backend), served by REV's code ('before') and this tree's ('after') in "
        f"turns: {args.rounds} rounds, each {args.repeat} turns per tree and store after 3 "
        f"warm-up turns. Milliseconds, medians over all rounds.",
        "",
        "| store | first token before | first token after | total before | total after "
        "| a/b before | a/b after | after/before (total) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for store, trees in results.items():
        before, after = trees["before"], trees["after"]
        ab = {
            name: statistics.median(f["a_total"]) / statistics.median(f["b_total"])
            for name, f in trees.items()
        }
        change = statistics.median(after["a_total"]) / statistics.median(before["a_total"])
        lines.append(
            f"| {store} | {median_ms(before['a_first']):.1f} | {median_ms(after['a_first']):.1f} "
            f"| {median_ms(before['a_total']):.1f} | {median_ms(after['a_total']):.1f} "
            f"| {ab['before']:.3f} | {ab['after']:.3f} | **{change:.3f}** |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rev", required=True, help="the revision to compare against")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=STORES)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    opening = stamp()
    runs: dict[str, dict[str, list[Figures]]] = {
        store: {"before": [], "after": []} for store in args.stores
    }
    with checkout(args.rev) as old:
        trees = {"before": old / "src", "after": ROOT / "src"}
        for _ in range(args.rounds):
            for store in args.stores:
                for name, src in trees.items():
                    with serving(src):
                        runs[store][name].append(measure(store, args.repeat))
    results = {
        store: {name: merged(figures) for name, figures in trees.items()}
        for store, trees in runs.items()
    }
    emit("against-revision", report(opening, args.rev, results, args), args.write)


if __name__ == "__main__":
    main()
